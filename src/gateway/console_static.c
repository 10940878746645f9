/* The console's embedded files (console.h, console_assets.h). */
#include <string.h>

#include "gateway/console.h"
#include "gateway/console_assets.h"

int console_static(gw_req *r) {
  const char *want = r->path;
  if (strcmp(want, "/") == 0 || strcmp(want, "/console/") == 0) want = "/console/index.html";
  for (size_t i = 0; i < console_nassets; i++) {
    const console_asset *a = &console_assets[i];
    if (strcmp(a->path, want) != 0) continue;
    if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0) {
      console_error(r, 405, "the console's pages take GET");
      return 1;
    }
    /* a HEAD answer's body is dropped by libmicrohttpd */
    gw_respond(r, 200, a->content_type, a->data, a->len, console_security_headers);
    return 1;
  }
  return 0;
}
