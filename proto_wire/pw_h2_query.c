/* proto_wire/pw_h2_query: read-only questions the connection glue asks a session. */
#include "proto_wire/pw_h2_int.h"

bool pw_h2_session_in_header_block(const pw_h2_session *s) { return s->cont_stream != 0; }
