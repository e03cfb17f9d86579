#ifndef CYTOINGEST_CSQLITE_SHIM_H
#define CYTOINGEST_CSQLITE_SHIM_H
#include <sqlite3.h>

/// sqlite3_db_config is variadic, so Swift cannot call it: this wrapper turns off the checkpoint
/// SQLite runs when the last connection to a WAL database closes (a run that changed little
/// then syncs nothing; the log is checkpointed by later writes, as SQLite does anyway).
static inline int cytoingest_no_checkpoint_on_close(void *db) {
#ifdef SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE
    return sqlite3_db_config((sqlite3 *)db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *)0);
#else
    return SQLITE_OK;
#endif
}
#endif
