/* trash_handlers: the Trash request (handlers.h) and the leader's trash expiry. */
#ifndef METAD_TRASH_HANDLERS_H
#define METAD_TRASH_HANDLERS_H

#include "metad/metad.h"

/* Ready leader, at most once a second: submits OP_TRASH_EXPIRE with its clock when some
 * trash item has expired (apply drops every item expired by then). From the clock
 * (cron.c, so an idle cluster expires too) and before every client request. */
void md_trash_expire(metad *md);

#endif
