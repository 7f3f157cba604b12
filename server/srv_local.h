/* server/srv_local: the shard runtime without threads, listeners or signals, for tests.
 *
 * srv_run starts one thread per shard, each blocking in its own loop. A test that must decide
 * when each shard runs (hold a job's message on its way to the owner, let the origin's call be
 * cancelled meanwhile, see what a shard does before a commit completes) creates the shards here
 * instead: every loop lives on the caller's thread, and nothing runs until the caller steps a
 * shard. A step is one non-blocking iteration of that shard's loop as that shard
 * (srv_shard_self() returns it): its I/O completions, its timers, and the mesh messages other
 * shards sent it (the mesh's every-iteration hook polls its lanes). So a message sent from shard
 * A to shard B waits in its lane until the test steps B: the test holds, orders and releases
 * cross-shard deliveries by the order in which it steps the shards.
 *
 * Connections are sockets the caller already has (one end of a socketpair): srv_local_adopt
 * serves one on a shard as if its listener had accepted it.
 *
 * Threads: every function must be called on the thread that called srv_local_create (the
 * loops' single issuer). */
#ifndef SRV_LOCAL_H
#define SRV_LOCAL_H

#include <stdbool.h>

#include "server/srv_runtime.h"

/* Creates `nshards` shards (1..RT_SHARDS_MAX) on the calling thread and runs hooks->shard_init
 * on each (as that shard). `o` is copied (only its timeouts and limits matter: nothing binds);
 * `grpc` and `hooks` are borrowed until srv_local_destroy. Returns 0 and *out, -EINVAL (bad
 * nshards), -ENOMEM, a negative errno from ev_loop_create (io_uring unusable), or -EIO when a
 * shard_init hook called srv_runtime_fail (everything created is torn down then). */
int srv_local_create(const srv_options *o, pw_grpc_server *grpc, const srv_hooks *hooks,
                     int nshards, srv_runtime **out);
/* Shard `i` (0 <= i < nshards). */
srv_shard *srv_local_shard(srv_runtime *rt, int i);
/* Serves the connected socket `fd` on `sh` (takes it: it is closed with the connection, or at
 * once when the shard cannot take it). */
void srv_local_adopt(srv_shard *sh, int fd);
/* Runs one non-blocking iteration of `sh`'s loop as `sh`. Returns the callbacks run (0: it had
 * nothing to do) or the loop's negative errno. */
int srv_local_step(srv_shard *sh);
/* Connections open on `sh`. */
unsigned srv_local_conns(const srv_shard *sh);
/* Drains like srv_run (hooks->on_drain on every shard, then enough steps for the answers to
 * cross back), runs hooks->shard_fini on every shard (as that shard), closes their connections,
 * lets the closes complete, destroys the loops and frees the runtime. */
void srv_local_destroy(srv_runtime *rt);

#endif
