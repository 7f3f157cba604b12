/* server/srv_stream: ringq.v1.Streams registration and its life on each shard. See srv_stream.h
 * and srv_stream_int.h (the files and what each does). */
#include "server/srv_stream.h"

#include "server/srv_stream_int.h"

int srv_stream_add_methods(pw_grpc_server *g)
{
    int r = srv_stream_admin_add_methods(g);
    if (r == 0) r = srv_stream_pub_add_methods(g);
    if (r == 0) r = srv_stream_read_add_methods(g);
    if (r == 0) r = srv_stream_cons_add_methods(g);
    return r;
}

void srv_stream_shard_init(int shard)
{
    srv_sdir_shard_init(shard);
    srv_stream_cons_shard_init(shard);
}

void srv_stream_shard_fini(int shard)
{
    srv_stream_cons_shard_fini(shard);
    srv_sdir_shard_fini(shard);
}

void srv_stream_on_drain(int shard)
{
    srv_stream_pub_drain();
    srv_stream_read_drain();
    srv_stream_cons_drain();
}
