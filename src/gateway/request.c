/* A request to dfsgw and its answers (request.h). */
#include "gateway/request.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"

const char *gw_header(const gw_req *r, const char *name) {
  for (size_t i = 0; i < r->nheaders; i++)
    if (strcasecmp(r->headers[i].name, name) == 0) return r->headers[i].value;
  return NULL;
}

const char *gw_query(const gw_req *r, const char *name) {
  for (size_t i = 0; i < r->nquery; i++)
    if (strcmp(r->query[i].name, name) == 0) return r->query[i].value ? r->query[i].value : "";
  return NULL;
}

int gw_has_query(const gw_req *r, const char *name) { return gw_query(r, name) != NULL; }

/* ---- responses ---- */

static void add_headers(struct MHD_Response *resp, const gw_req *r, const char *content_type,
                        const char *const *extra) {
  MHD_add_response_header(resp, "Server", "dfsgw");
  MHD_add_response_header(resp, "x-amz-request-id", r->request_id);
  if (content_type) MHD_add_response_header(resp, "Content-Type", content_type);
  for (size_t i = 0; extra && extra[i] && extra[i + 1]; i += 2)
    MHD_add_response_header(resp, extra[i], extra[i + 1]);
}

static void queue(gw_req *r, unsigned status, struct MHD_Response *resp) {
  if (!resp) {
    LOG_ERROR("cannot create a response (out of memory)");
    return;
  }
  if (MHD_queue_response(r->mhd, status, resp) != MHD_YES)
    LOG_DEBUG("response %u for %s %s not queued (client gone?)", status, r->method, r->path);
  MHD_destroy_response(resp);
  r->answered = 1;
  r->status = status;
}

void gw_respond(gw_req *r, unsigned status, const char *content_type, const void *body,
                size_t len, const char *const *extra) {
  if (r->answered) return;
  struct MHD_Response *resp =
      MHD_create_response_from_buffer(len, (void *)(body ? body : ""), MHD_RESPMEM_MUST_COPY);
  if (resp) add_headers(resp, r, content_type, extra);
  queue(r, status, resp);
}

void gw_respond_stream(gw_req *r, unsigned status, const char *content_type, uint64_t size,
                       MHD_ContentReaderCallback reader, void *cls,
                       MHD_ContentReaderFreeCallback free_cls, const char *const *extra) {
  if (r->answered) {
    if (free_cls) free_cls(cls);
    return;
  }
  struct MHD_Response *resp =
      MHD_create_response_from_callback(size, 256 * 1024, reader, cls, free_cls);
  if (!resp && free_cls) free_cls(cls);
  if (resp) add_headers(resp, r, content_type, extra);
  queue(r, status, resp);
}

/* Appends s to out with XML escaping; returns the new length (bounded by outsz). */
static size_t xml_esc(char *out, size_t o, size_t outsz, const char *s) {
  for (; s && *s && o + 8 < outsz; s++) {
    const char *e = NULL;
    switch (*s) {
    case '<': e = "&lt;"; break;
    case '>': e = "&gt;"; break;
    case '&': e = "&amp;"; break;
    case '"': e = "&quot;"; break;
    case '\'': e = "&apos;"; break;
    }
    if (e) {
      size_t n = strlen(e);
      memcpy(out + o, e, n);
      o += n;
    } else if ((unsigned char)*s >= 0x20 || *s == '\t') {
      out[o++] = *s;
    }
  }
  out[o] = '\0';
  return o;
}

void gw_s3_error(gw_req *r, unsigned status, const char *code, const char *message) {
  if (r->answered) return;
  char body[2048];
  size_t o = (size_t)snprintf(body, sizeof body,
                              "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code>"
                              "<Message>", code);
  o = xml_esc(body, o, sizeof body - 200, message);
  o += (size_t)snprintf(body + o, sizeof body - o, "</Message><Resource>");
  o = xml_esc(body, o, sizeof body - 64, r->path);
  o += (size_t)snprintf(body + o, sizeof body - o, "</Resource><RequestId>%s</RequestId></Error>",
                        r->request_id);
  LOG_DEBUG("%s %s -> %u %s: %s", r->method, r->path, status, code, message);
  /* HEAD answers carry no body, only the status */
  if (strcmp(r->method, "HEAD") == 0) o = 0;
  const char *extra[] = {"x-amz-error-code", code, NULL};
  gw_respond(r, status, "application/xml", body, o, extra);
}
