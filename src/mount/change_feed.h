/* The mount's side of metad's change feed (WatchReq): a thread asks every watch_ms which
 * paths changed and tells the kernel to forget what it cached about them (attributes,
 * pages, the name and its directory's listing); a new epoch or an overflow (changes
 * missed) forgets everything the mount ever handed out. */
#ifndef DFS_MOUNT_CHANGE_FEED_H
#define DFS_MOUNT_CHANGE_FEED_H

#include <pthread.h>

#include "mount/mount_ctx.h"

typedef struct {
  mount_ctx *m;
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t wake;
  int stop, started;
} change_feed;

int change_feed_start(change_feed *f, mount_ctx *m); /* 0, or DFS_ENOMEM; off if watch_ms 0 */
void change_feed_stop(change_feed *f);

#endif
