/* The namespace as JSON for the console's file browser (console.h): each call is one
 * metad request (two for the paged GetFile of a big file's details) as the session's
 * user; metad decides what she may see or change. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_meta.pb-c.h"
#include "common.pb-c.h"
#include "common/errors.h"
#include "common/path.h"
#include "common/util.h"
#include "gateway/console.h"

#define SEARCH_LIMIT 500
#define DETAILS_MAX_CHUNKS 4096 /* a bigger file's details say "truncated" */

static void entry_json(gw_json *j, const char *key, const Dfs__Entry *e) {
  gw_json_obj(j, key);
  gw_json_str(j, "name", e->name);
  gw_json_str(j, "type", e->type == DFS__ENTRY_TYPE__ENTRY_DIR ? "dir" : "file");
  gw_json_uint(j, "size", e->size);
  gw_json_int(j, "mtime_ms", e->mtime_ns / 1000000);
  gw_json_str(j, "owner", e->owner);
  gw_json_uint(j, "mode", e->mode);
  gw_json_uint(j, "replicas", e->replicas);
  gw_json_uint(j, "chunks", e->chunks);
  gw_json_end_obj(j);
}

/* A mutation as the request's user, answered {} or with the error. */
static void mutate(gw_req *r, uint16_t type, ProtobufCMessage *req,
                   const ProtobufCMessageDescriptor *rep_desc) {
  ProtobufCMessage *m = console_ask(r, type, req, rep_desc);
  if (!m) return;
  protobuf_c_message_free_unpacked(m, NULL);
  gw_respond(r, 200, "application/json", "{}", 2, console_security_headers);
}

void console_list(gw_req *r) {
  const char *path = console_path_param(r, "path");
  if (!path) return;
  Dfs__ListReq req = DFS__LIST_REQ__INIT;
  req.path = (char *)path;
  ProtobufCMessage *m =
      console_ask(r, DFS__MSG_TYPE__MSG_CLIENT_TO_META_LIST, &req.base, &dfs__list_rep__descriptor);
  if (!m) return;
  const Dfs__ListRep *rep = (const Dfs__ListRep *)m;
  gw_json j = {0};
  gw_json_obj(&j, NULL);
  gw_json_str(&j, "path", path);
  gw_json_arr(&j, "entries");
  for (size_t i = 0; i < rep->n_entries; i++) entry_json(&j, NULL, rep->entries[i]);
  gw_json_end_arr(&j);
  gw_json_end_obj(&j);
  console_json_send(r, &j, m);
}

void console_search(gw_req *r) {
  const char *q = gw_query(r, "q");
  const char *path = gw_has_query(r, "path") ? console_path_param(r, "path") : "/";
  if (!path) return;
  if (!q || strlen(q) > DFS_NAME_MAX) {
    console_error(r, 400, "q: the name (or part of it) to look for, at most 255 bytes");
    return;
  }
  Dfs__SearchReq req = DFS__SEARCH_REQ__INIT;
  req.pattern = (char *)q;
  req.path = (char *)path;
  req.glob = strpbrk(q, "*?[") != NULL;
  req.limit = SEARCH_LIMIT;
  ProtobufCMessage *m =
      console_ask(r, DFS__MSG_TYPE__MSG_CLIENT_TO_META_SEARCH, &req.base, &dfs__search_rep__descriptor);
  if (!m) return;
  const Dfs__SearchRep *rep = (const Dfs__SearchRep *)m;
  gw_json j = {0};
  gw_json_obj(&j, NULL);
  gw_json_bool(&j, "truncated", rep->truncated);
  gw_json_arr(&j, "hits");
  for (size_t i = 0; i < rep->n_hits; i++) {
    gw_json_obj(&j, NULL);
    gw_json_str(&j, "path", rep->hits[i]->path);
    if (rep->hits[i]->entry) entry_json(&j, "entry", rep->hits[i]->entry);
    gw_json_end_obj(&j);
  }
  gw_json_end_arr(&j);
  gw_json_end_obj(&j);
  console_json_send(r, &j, m);
}

/* The file's entry and every chunk (index, id, version, length, CRC, goal) with the
 * servers holding a live copy, in metad's preference order. */
void console_details(gw_req *r) {
  const char *path = console_path_param(r, "path");
  if (!path) return;
  gw_json j = {0};
  uint64_t next = 0;
  int truncated = 0;
  for (;;) {
    Dfs__GetFileReq req = DFS__GET_FILE_REQ__INIT;
    req.path = (char *)path;
    req.first_chunk = next;
    ProtobufCMessage *m = console_ask(r, DFS__MSG_TYPE__MSG_CLIENT_TO_META_GETFILE, &req.base,
                                     &dfs__get_file_rep__descriptor);
    if (!m) {
      gw_json_free(&j);
      return;
    }
    const Dfs__GetFileRep *rep = (const Dfs__GetFileRep *)m;
    if (next == 0) {
      gw_json_obj(&j, NULL);
      gw_json_str(&j, "path", path);
      if (rep->entry) entry_json(&j, "entry", rep->entry);
      gw_json_arr(&j, "chunks");
    }
    for (size_t i = 0; i < rep->n_chunks; i++) {
      const Dfs__ChunkLocation *c = rep->chunks[i];
      char id[24];
      snprintf(id, sizeof id, "%016llx", (unsigned long long)c->chunk_id);
      gw_json_obj(&j, NULL);
      gw_json_uint(&j, "index", c->index);
      gw_json_str(&j, "id", id);
      gw_json_uint(&j, "version", c->version);
      gw_json_uint(&j, "length", c->length);
      gw_json_uint(&j, "crc32c", c->crc32c);
      gw_json_uint(&j, "goal", c->goal);
      gw_json_uint(&j, "all_replicas", c->all_replicas);
      gw_json_arr(&j, "replicas");
      for (size_t k = 0; k < c->n_replicas; k++) {
        char addr[300];
        snprintf(addr, sizeof addr, "%s:%u", c->replicas[k]->host ? c->replicas[k]->host : "?",
                 c->replicas[k]->port);
        gw_json_obj(&j, NULL);
        gw_json_uint(&j, "server_id", c->replicas[k]->server_id);
        gw_json_str(&j, "address", addr);
        gw_json_end_obj(&j);
      }
      gw_json_end_arr(&j);
      gw_json_end_obj(&j);
    }
    uint64_t total = rep->entry ? rep->entry->chunks : 0;
    int dir = rep->entry && rep->entry->type == DFS__ENTRY_TYPE__ENTRY_DIR;
    next += rep->n_chunks;
    protobuf_c_message_free_unpacked(m, NULL);
    if (dir || next >= total || next == 0 || j.failed) break;
    if (next >= DETAILS_MAX_CHUNKS) {
      truncated = 1;
      break;
    }
  }
  gw_json_end_arr(&j);
  gw_json_bool(&j, "truncated", truncated);
  gw_json_end_obj(&j);
  console_json_send(r, &j, NULL);
}

void console_trash_list(gw_req *r) {
  Dfs__TrashReq req = DFS__TRASH_REQ__INIT;
  req.action = DFS__TRASH_ACTION__TRASH_LIST;
  ProtobufCMessage *m =
      console_ask(r, DFS__MSG_TYPE__MSG_CLIENT_TO_META_TRASH, &req.base, &dfs__trash_rep__descriptor);
  if (!m) return;
  const Dfs__TrashRep *rep = (const Dfs__TrashRep *)m;
  gw_json j = {0};
  gw_json_obj(&j, NULL);
  gw_json_arr(&j, "items");
  for (size_t i = 0; i < rep->n_items; i++) {
    const Dfs__TrashItem *t = rep->items[i];
    gw_json_obj(&j, NULL);
    gw_json_uint(&j, "id", t->id);
    gw_json_str(&j, "original_path", t->original_path);
    gw_json_int(&j, "deleted_ms", t->deleted_ns / 1000000);
    gw_json_int(&j, "expires_ms", t->expires_ns / 1000000);
    if (t->entry) entry_json(&j, "entry", t->entry);
    gw_json_end_obj(&j);
  }
  gw_json_end_arr(&j);
  gw_json_end_obj(&j);
  console_json_send(r, &j, m);
}

void console_mkdir(gw_req *r, const char *body, size_t len) {
  char path[DFS_PATH_MAX + 1];
  if (!console_body_path(r, body, len, "path", path)) return;
  Dfs__MkdirReq req = DFS__MKDIR_REQ__INIT;
  req.path = path;
  req.mode = 0755;
  req.request_id = dfs_random_u64();
  mutate(r, DFS__MSG_TYPE__MSG_CLIENT_TO_META_MKDIR, &req.base, &dfs__mkdir_rep__descriptor);
}

void console_rename(gw_req *r, const char *body, size_t len) {
  char src[DFS_PATH_MAX + 1], dst[DFS_PATH_MAX + 1];
  if (!console_body_path(r, body, len, "src", src) ||
      !console_body_path(r, body, len, "dst", dst))
    return;
  Dfs__RenameReq req = DFS__RENAME_REQ__INIT;
  req.src = src;
  req.dst = dst;
  req.request_id = dfs_random_u64();
  mutate(r, DFS__MSG_TYPE__MSG_CLIENT_TO_META_RENAME, &req.base, &dfs__rename_rep__descriptor);
}

void console_trash(gw_req *r, const char *body, size_t len) {
  char path[DFS_PATH_MAX + 1];
  if (!console_body_path(r, body, len, "path", path)) return;
  Dfs__DeleteReq req = DFS__DELETE_REQ__INIT;
  req.path = path;
  req.recursive = 1;
  req.trash = 1;
  req.request_id = dfs_random_u64();
  mutate(r, DFS__MSG_TYPE__MSG_CLIENT_TO_META_DELETE, &req.base, &dfs__delete_rep__descriptor);
}

void console_restore(gw_req *r, const char *body, size_t len) {
  char id[32], *end;
  if (gw_json_get(body, len, "id", id, sizeof id) != 1) {
    console_error(r, 400, "id: the trash item to restore");
    return;
  }
  unsigned long long v = strtoull(id, &end, 10);
  if (*end || !*id || v == 0) {
    console_error(r, 400, "id: the trash item to restore");
    return;
  }
  Dfs__TrashReq req = DFS__TRASH_REQ__INIT;
  req.action = DFS__TRASH_ACTION__TRASH_RESTORE;
  req.id = v;
  req.request_id = dfs_random_u64();
  mutate(r, DFS__MSG_TYPE__MSG_CLIENT_TO_META_TRASH, &req.base, &dfs__trash_rep__descriptor);
}
