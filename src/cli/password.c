/* Password input (see password.h). */
#include "cli/password.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "common/errors.h"

void cli_password_wipe(void *p, size_t n) {
  volatile unsigned char *v = p;
  while (n--) *v++ = 0;
}

int cli_read_line(FILE *f, char *out, size_t outsz) {
  size_t n = 0;
  int c, too_long = 0, any = 0;
  while ((c = fgetc(f)) != EOF) {
    any = 1;
    if (c == '\n') break;
    if (n + 1 < outsz) out[n++] = (char)c;
    else too_long = 1;
  }
  if (n && out[n - 1] == '\r') n--;
  out[n] = '\0';
  if (!any) return DFS_ENOENT;
  return too_long ? DFS_ETOOBIG : 0;
}

/* The terminal state to restore if we are interrupted while echo is off. */
static struct termios g_saved;
static volatile sig_atomic_t g_tty_fd = -1;

static void restore_on_signal(int sig) {
  if (g_tty_fd >= 0) tcsetattr(g_tty_fd, TCSAFLUSH, &g_saved);
  signal(sig, SIG_DFL);
  raise(sig);
}

int cli_read_password_tty(const char *prompt, char *out, size_t outsz, char *err,
                          size_t errsz) {
  int fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    snprintf(err, errsz, "no terminal to read the password from (use --password-stdin or "
                         "$DFS_PASSWORD)");
    return DFS_EIO;
  }
  FILE *f = fdopen(fd, "r+");
  if (!f) { close(fd); snprintf(err, errsz, "cannot open the terminal"); return DFS_EIO; }
  struct termios t;
  struct sigaction sa, old_int, old_term;
  int echo_off = 0;
  if (tcgetattr(fd, &g_saved) == 0) {
    t = g_saved;
    t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
    t.c_lflag |= ICANON;
    g_tty_fd = fd;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = restore_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    echo_off = tcsetattr(fd, TCSAFLUSH, &t) == 0;
    if (!echo_off) {
      sigaction(SIGINT, &old_int, NULL);
      sigaction(SIGTERM, &old_term, NULL);
      g_tty_fd = -1;
    }
  }
  fputs(prompt, f);
  fflush(f);
  int rc = cli_read_line(f, out, outsz);
  if (echo_off) {
    tcsetattr(fd, TCSAFLUSH, &g_saved);
    g_tty_fd = -1;
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
  }
  fputs("\n", f);
  fclose(f);
  if (rc == DFS_ENOENT) snprintf(err, errsz, "no password given");
  else if (rc == DFS_ETOOBIG) snprintf(err, errsz, "password too long (at most %d bytes)", CLI_PASSWORD_MAX);
  return rc == DFS_ENOENT ? DFS_EIO : rc;
}

int cli_password_check(const char *pw, char *err, size_t errsz) {
  size_t n = strlen(pw);
  if (n < CLI_PASSWORD_MIN || n > CLI_PASSWORD_MAX) {
    snprintf(err, errsz, "a password has %d to %d bytes (got %zu)", CLI_PASSWORD_MIN,
             CLI_PASSWORD_MAX, n);
    return DFS_EINVAL;
  }
  return 0;
}
