/* worker/wk_call: request/reply trampolines over the mesh. */
#include "worker/wk_call.h"

static void on_reply(wk_mesh *m, int self, const wk_msg *msg)
{
    wk_call *c = msg->arg;
    /* result was written by the target before it published the reply; the lane's release/acquire
     * pair makes it visible here. */
    c->done(c, c->result);
}

static void on_request(wk_mesh *m, int self, const wk_msg *msg)
{
    wk_call *c = msg->arg;
    c->run(c, self); /* ends with wk_call_reply, now or later */
}

void wk_call_start(wk_mesh *m, int from, int to, wk_call *c)
{
    c->caller = from;
    c->target = to;
    c->result = 0;
    c->mesh = m;
    c->node.msg = (wk_msg){.fn = on_request, .arg = c};
    wk_mesh_send_node(m, from, to, &c->node);
}

void wk_call_reply(wk_call *c, int result)
{
    c->result = result;
    /* The node is ours again: the request was copied out of it before run was called. */
    c->node.msg = (wk_msg){.fn = on_reply, .arg = c};
    wk_mesh_send_node(c->mesh, c->target, c->caller, &c->node);
}

void wk_call_push(wk_mesh *m, int from, int to, wk_call *c, int result)
{
    c->caller = to;
    c->target = from;
    c->mesh = m;
    wk_call_reply(c, result);
}
