/* bench/rb_drivers: the systems ringq-bench knows. Every driver is referenced weakly, so the
 * binary links whichever bench/rb_drv_*.c files exist; a known system whose driver is absent is
 * reported as "driver not built". */
#include <string.h>

#include "bench/rb_engine.h"

extern const rb_driver rb_drv_ringq __attribute__((weak));
extern const rb_driver rb_drv_ringq_stream __attribute__((weak));
extern const rb_driver rb_drv_grpc __attribute__((weak));
extern const rb_driver rb_drv_beanstalkd __attribute__((weak));
extern const rb_driver rb_drv_redis __attribute__((weak));
extern const rb_driver rb_drv_jetstream __attribute__((weak));
extern const rb_driver rb_drv_redis_streams __attribute__((weak));
extern const rb_driver rb_drv_ringq_streams __attribute__((weak)); /* the hook: rb_driver.h */
extern const rb_driver rb_drv_ringq_streams_unary __attribute__((weak));

typedef struct known {
    const char *name;
    const rb_driver *d;
} known;

const rb_driver *rb_driver_find(const char *name, bool streams, bool *is_known)
{
    const known queues[] = {
        {"ringq", &rb_drv_ringq},           {"grpc", &rb_drv_grpc},
        {"beanstalkd", &rb_drv_beanstalkd}, {"redis", &rb_drv_redis},
        {"jetstream", &rb_drv_jetstream},   {"ringq-stream", &rb_drv_ringq_stream},
    };
    /* The JetStream driver serves both: rb_target.stream switches its setup and consumers. */
    const known streams_tab[] = {
        {"ringq", &rb_drv_ringq_streams},
        {"ringq-unary", &rb_drv_ringq_streams_unary},
        {"redis", &rb_drv_redis_streams},
        {"jetstream", &rb_drv_jetstream},
    };
    const known *tab = streams ? streams_tab : queues;
    size_t n = streams ? sizeof streams_tab / sizeof streams_tab[0]
                       : sizeof queues / sizeof queues[0];
    *is_known = false;
    for (size_t i = 0; i < n; i++) {
        if (!name || strcmp(name, tab[i].name) != 0) continue;
        *is_known = true;
        return tab[i].d;
    }
    return NULL;
}

const char *rb_driver_names(bool streams)
{
    return streams ? "ringq|ringq-unary|redis|jetstream" : "ringq|grpc|beanstalkd|redis|jetstream";
}
