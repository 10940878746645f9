/* read_handlers: stat, list, getfile and bad-replica reports (handlers.h), and the two
 * helpers other readers of the namespace share (trash and search listings). */
#ifndef METAD_READ_HANDLERS_H
#define METAD_READ_HANDLERS_H

#include <stddef.h>

#include "client_meta.pb-c.h"
#include "metad/metad.h"

/* Fills e (already initialised) from inode n of namespace ns, a file's client attributes
 * included; e borrows n's strings and attrs (valid until the next apply). The one place
 * an Entry is filled: stat, list, getfile, search hits, trash items. */
void read_fill_entry(Dfs__Entry *e, const ns_t *ns, const ns_inode *n);
/* Common start of a read: path check, leader check and lookup with x on every
 * directory on the way (what stat needs; list and getfile then also need r on *n).
 * 0, or an error with one line in msg. */
int read_lookup(metad *md, const md_user *u, const char *path, ns_inode **n, char *msg,
                size_t msgsz);

#endif
