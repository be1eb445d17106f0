/* `trailguard sim` as a subprocess: the two ready lines, one request to each
 * venue, a clean exit on SIGTERM, and the usage errors. */
#include "sim_testutil.h"

#include <signal.h>
#include <sys/wait.h>

/* Starts the command with stdout on a pipe; returns its pid. */
static pid_t spawn(const char *const argv[], FILE **out) {
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    *out = fdopen(fds[0], "r");
    assert_non_null(*out);
    return pid;
}

static void test_ready_lines(void **state) {
    (void)state;
    const char *argv[] = {TG_CLI_PATH, "sim", "--listen", "127.0.0.1:0", "--seed", "9", NULL};
    FILE *out = NULL;
    pid_t pid = spawn(argv, &out);
    char line1[256] = "", line2[256] = "";
    assert_non_null(fgets(line1, sizeof line1, out));
    assert_non_null(fgets(line2, sizeof line2, out));
    unsigned p1 = 0, p2 = 0, w1 = 0, w2 = 0;
    assert_int_equal(
        sscanf(line1, "binance rest=http://127.0.0.1:%u ws=ws://127.0.0.1:%u\n", &p1, &w1), 2);
    assert_int_equal(
        sscanf(line2, "bybit rest=http://127.0.0.1:%u ws=ws://127.0.0.1:%u\n", &p2, &w2), 2);
    assert_int_equal(p1, w1);
    assert_int_equal(p2, w2);
    assert_true(p1 > 0 && p2 > 0 && p1 != p2);
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/fapi/v1/time", p1);
    tu_resp r = tu_http("GET", url, NULL, NULL, 5000);
    assert_int_equal(r.status, 200);
    assert_true(tu_jnum(r.json, "serverTime") > 0);
    tu_resp_free(&r);
    snprintf(url, sizeof url, "http://127.0.0.1:%u/v5/market/time", p2);
    r = tu_http("GET", url, NULL, NULL, 5000);
    assert_int_equal(tu_retcode(&r), 0);
    tu_resp_free(&r);
    kill(pid, SIGTERM);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    fclose(out);
}

/* A client that closes while pipelined answers are still being written must
 * not kill the command with SIGPIPE (exit status 141). */
static void test_no_sigpipe_on_closed_client(void **state) {
    (void)state;
    const char *argv[] = {TG_CLI_PATH, "sim", "--listen", "127.0.0.1:0", NULL};
    FILE *out = NULL;
    pid_t pid = spawn(argv, &out);
    char line1[256] = "";
    assert_non_null(fgets(line1, sizeof line1, out));
    unsigned port = 0;
    assert_int_equal(sscanf(line1, "binance rest=http://127.0.0.1:%u", &port), 1);
    static const char one[] = "GET /fapi/v1/exchangeInfo HTTP/1.1\r\nHost: x\r\n\r\n";
    char req[50 * sizeof one];
    size_t len = 0;
    for (int i = 0; i < 50; i++) {
        memcpy(req + len, one, sizeof one - 1);
        len += sizeof one - 1;
    }
    for (int round = 0; round < 40; round++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        assert_true(fd >= 0);
        int small = 4096;
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
        assert_int_equal(send(fd, req, len, 0), (ssize_t)len);
        char buf[100];
        if (recv(fd, buf, sizeof buf, 0) <= 0) {
            close(fd);
            break; /* the emulator died: waitpid below says how */
        }
        struct linger lg = {1, 0}; /* close with a reset: the next write fails at once */
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        close(fd);
    }
    tu_sleep_ms(200);
    int status = 0;
    pid_t gone = waitpid(pid, &status, WNOHANG);
    if (gone == pid) {
        fail_msg("trailguard sim ended: %s %d", WIFSIGNALED(status) ? "signal" : "exit",
                 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    }
    assert_int_equal(gone, 0); /* still running */
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/fapi/v1/time", port);
    tu_resp r = tu_http("GET", url, NULL, NULL, 5000);
    assert_int_equal(r.status, 200);
    tu_resp_free(&r);
    kill(pid, SIGTERM);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    fclose(out);
}

static int run_status(const char *const argv[]) {
    FILE *out = NULL;
    pid_t pid = spawn(argv, &out);
    int status = 0;
    waitpid(pid, &status, 0);
    fclose(out);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_usage_errors(void **state) {
    (void)state;
    const char *a1[] = {TG_CLI_PATH, "sim", "--listen", "nocolon", NULL};
    assert_int_equal(run_status(a1), 2);
    const char *a2[] = {TG_CLI_PATH, "sim", "--bogus", "1", NULL};
    assert_int_equal(run_status(a2), 2);
    const char *a3[] = {TG_CLI_PATH, "sim", "--scenario", "/nonexistent.json", NULL};
    assert_int_equal(run_status(a3), 1);
    const char *a4[] = {TG_CLI_PATH, "sim", "--help", NULL};
    assert_int_equal(run_status(a4), 0);
}

int main(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ready_lines),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_no_sigpipe_on_closed_client),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
