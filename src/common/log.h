/* Logging to stderr: "2026-11-22T05:00:00.123Z INFO  metad: message". One global level
 * and component name per process, set once at start-up (not thread-safe to change). */
#ifndef DFS_LOG_H
#define DFS_LOG_H

enum dfs_log_level { DFS_LOG_DEBUG = 0, DFS_LOG_INFO, DFS_LOG_WARN, DFS_LOG_ERROR };

/* component: static string, kept by pointer. */
void dfs_log_init(const char *component, enum dfs_log_level level);
/* "debug" | "info" | "warn" | "error" -> level; returns -1 if unknown. */
int dfs_log_parse_level(const char *s);
void dfs_log(enum dfs_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define LOG_DEBUG(...) dfs_log(DFS_LOG_DEBUG, __VA_ARGS__)
#define LOG_INFO(...) dfs_log(DFS_LOG_INFO, __VA_ARGS__)
#define LOG_WARN(...) dfs_log(DFS_LOG_WARN, __VA_ARGS__)
#define LOG_ERROR(...) dfs_log(DFS_LOG_ERROR, __VA_ARGS__)

#endif
