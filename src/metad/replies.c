/* replies: how metad's handlers read a request and answer it (replies.h). */
#include "metad/replies.h"

#include <stdio.h>
#include <stdlib.h>

#include "client_meta.pb-c.h"
#include "common/errors.h"
#include "common/util.h"

void *md_decode(dfs_conn *c, dfs_msg *m, const ProtobufCMessageDescriptor *desc) {
  ProtobufCMessage *rq = protobuf_c_message_unpack(desc, NULL, m->hdr.payload_len, m->payload);
  if (!rq) {
    char why[128];
    snprintf(why, sizeof why, "cannot decode %s", desc->short_name);
    dfs_conn_reply_error(c, &m->hdr, DFS_EPROTO, why);
  }
  return rq;
}

/* Every reply message starts with `Status status = 1`, so a MkdirRep holding only a
 * Status is byte-for-byte a valid reply of any type. */
void md_reply_status(dfs_conn *c, const dfs_frame_hdr *hdr, int err, const char *msg) {
  Dfs__Status st = DFS__STATUS__INIT;
  st.error = err;
  st.message = (char *)(msg && *msg ? msg : (err ? dfs_strerror(err) : ""));
  Dfs__MkdirRep rep = DFS__MKDIR_REP__INIT;
  rep.status = &st;
  dfs_conn_reply(c, hdr, &rep.base, NULL, 0, NULL, NULL);
}

void md_fill_server_addr(Dfs__ServerAddr *a, const server_ent *e) {
  dfs__server_addr__init(a);
  a->server_id = e->id;
  a->host = (char *)e->host;
  a->port = e->port;
}

int64_t md_cap_expiry(const metad *md) { return dfs_wall_ns() / 1000000 + md->caps_ttl_ms; }

/* ---- connections closed shortly after a refusal ----
 * State: md->closing, each entry holding a reference on its connection. */

struct md_closing {
  md_closing *next;
  metad *md;
  uv_timer_t t;
  dfs_conn *c; /* reference held */
};

static void closing_free(uv_handle_t *h) { free(h->data); }

static void closing_fire(uv_timer_t *t) {
  md_closing *d = t->data;
  for (md_closing **pp = &d->md->closing; *pp; pp = &(*pp)->next)
    if (*pp == d) {
      *pp = d->next;
      break;
    }
  uv_timer_stop(&d->t);
  dfs_conn_close(d->c);
  dfs_conn_unref(d->c);
  uv_close((uv_handle_t *)&d->t, closing_free);
}

void md_close_soon(metad *md, dfs_conn *c) {
  md_closing *d = md->shutting_down ? NULL : calloc(1, sizeof *d);
  if (!d) {
    dfs_conn_close(c);
    return;
  }
  d->md = md;
  d->c = c;
  dfs_conn_ref(c);
  uv_timer_init(md->loop, &d->t);
  d->t.data = d;
  uv_timer_start(&d->t, closing_fire, 200, 0);
  d->next = md->closing;
  md->closing = d;
}

void md_close_soon_flush(metad *md) {
  while (md->closing) closing_fire(&md->closing->t);
}
