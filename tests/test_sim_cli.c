/* `trailguard sim` as a subprocess: the two ready lines, one request to each
 * venue, a clean exit on SIGTERM, and the usage errors. */
#include "sim_testutil.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

/* Starts the command with stdout on a pipe; returns its pid. */
static pid_t spawn(const char *const argv[], FILE **out) {
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* a failed test leaves no emulator behind */
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

/* `trailguard sim` on free ports; *port gets its Binance port. */
static pid_t spawn_sim(FILE **out, unsigned *port) {
    const char *argv[] = {TG_CLI_PATH, "sim", "--listen", "127.0.0.1:0", NULL};
    pid_t pid = spawn(argv, out);
    char line1[256] = "";
    assert_non_null(fgets(line1, sizeof line1, *out));
    assert_int_equal(sscanf(line1, "binance rest=http://127.0.0.1:%u", port), 1);
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
    FILE *out = NULL;
    unsigned port = 0;
    pid_t pid = spawn_sim(&out, &port);
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

/* Sends one GET on fd and reads its whole answer (Content-Length body). */
static void raw_get(int fd, const char *path) {
    char req[256], buf[8192];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
    assert_int_equal(send(fd, req, (size_t)n, 0), n);
    size_t len = 0;
    for (;;) {
        ssize_t got = recv(fd, buf + len, sizeof buf - 1 - len, 0);
        assert_true(got > 0);
        len += (size_t)got;
        buf[len] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        const char *cl = strcasestr(buf, "Content-Length:");
        if (end != NULL && cl != NULL &&
            len >= (size_t)(end + 4 - buf) + strtoul(cl + 15, NULL, 10)) {
            return;
        }
    }
}

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

/* A request's recv_us is when its bytes reached the emulator's host, not
 * when the emulator got round to reading them: with the emulator stopped
 * (SIGSTOP) while a request arrives and left stopped 300 ms more, the
 * request log still places it where the client sent it. */
static void test_receipt_is_arrival(void **state) {
    (void)state;
    FILE *out = NULL;
    unsigned port = 0;
    pid_t pid = spawn_sim(&out, &port);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    double sent_a = now_us();
    raw_get(fd, "/fapi/v1/time");
    assert_int_equal(kill(pid, SIGSTOP), 0);
    tu_sleep_ms(20);
    double sent_b = now_us();
    char req[] = "GET /fapi/v1/ping HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(send(fd, req, sizeof req - 1, 0), (ssize_t)(sizeof req - 1));
    tu_sleep_ms(300);
    double resumed = now_us();
    assert_int_equal(kill(pid, SIGCONT), 0);
    char buf[1024];
    assert_true(recv(fd, buf, sizeof buf, 0) > 0); /* answered after SIGCONT */
    close(fd);
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/sim/requests?venue=binance", port);
    tu_resp r = tu_http("GET", url, NULL, NULL, 5000);
    assert_int_equal(r.status, 200);
    const cJSON *list = cJSON_GetObjectItem(r.json, "requests");
    assert_int_equal(cJSON_GetArraySize(list), 2);
    double recv_a = tu_jnum(cJSON_GetArrayItem(list, 0), "recv_us");
    double recv_b = tu_jnum(cJSON_GetArrayItem(list, 1), "recv_us");
    assert_string_equal(tu_jstr(cJSON_GetArrayItem(list, 1), "path"), "/fapi/v1/ping");
    print_message("client: B sent %.0f us after A, read after %.0f us; log: %.0f us apart\n",
                  sent_b - sent_a, resumed - sent_a, recv_b - recv_a);
    /* B came about 20 ms after A; the emulator could read it only 320 ms after */
    assert_true(recv_b - recv_a < (resumed - sent_a) - 200000);
    assert_true(recv_b - recv_a >= 15000);
    tu_resp_free(&r);
    kill(pid, SIGTERM);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
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
        cmocka_unit_test(test_receipt_is_arrival),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
