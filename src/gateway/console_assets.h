/* The console's files, embedded at build time (cmake/embed.cmake writes console_assets.c
 * into the build tree from src/gateway/console/). Read-only, static storage. */
#ifndef DFS_GATEWAY_CONSOLE_ASSETS_H
#define DFS_GATEWAY_CONSOLE_ASSETS_H

#include <stddef.h>

typedef struct {
  const char *path;         /* "/console/app.js" */
  const char *content_type;
  const unsigned char *data;
  size_t len;
} console_asset;

extern const console_asset console_assets[];
extern const size_t console_nassets;

#endif
