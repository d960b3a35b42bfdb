/*
 * kafka-mock: a local Kafka-protocol server for tests, built on librdkafka's
 * mock cluster (librdkafka >= 2.0, Debian package librdkafka-dev).
 *
 * Build:  gcc -O2 -o scripts/brokers/kafka-mock scripts/brokers/kafka-mock.c -lrdkafka
 *         (scripts/brokers/up.sh does this when the binary is missing or older)
 *
 * Usage:  kafka-mock [-b BROKERS] [-c CTL_FIFO] [-a ACK_FILE] [-t TOPIC:PARTITIONS[:RF]]...
 *
 *   -b N     number of mock brokers (default 3; broker ids are 1..N)
 *   -c PATH  control FIFO (created with mkfifo if missing; default: none)
 *   -a PATH  append one acknowledgement line per control command to PATH
 *   -t SPEC  pre-create topic NAME with PARTITIONS partitions (and RF replicas)
 *
 * On start it prints exactly one line to stdout, the bootstrap servers, e.g.
 *   127.0.0.1:39123,127.0.0.1:41477,127.0.0.1:35011
 * (the mock binds each broker to a random loopback port: librdkafka 2.0.2 has
 * no way to choose the port, so callers read this line; up.sh stores it in
 * .brokers/kafka.bootstrap). It then serves until SIGTERM or SIGINT.
 *
 * Topics are auto-created on first Metadata/Produce for them with the mock's
 * default of 4 partitions and replication factor min(3, brokers), leaders
 * spread over the brokers. Admin CreateTopics from kafkajs does not work
 * against the mock: rely on auto-creation or the `create` command below.
 *
 * Control protocol: one command per line, read from the control FIFO (-c) and
 * from stdin (if stdin is not /dev/null). Each command is answered with one line
 * "ok <command>" or "err <reason>: <command>" on stdout and, if -a is given, in
 * the ACK_FILE (so a writer can wait for the acknowledgement).
 *
 *   down <brokerId|all>                 broker closes its connections and
 *                                       refuses new ones (no leader change)
 *   up <brokerId|all>                   broker accepts connections again
 *   errors <apiKey> <errcode> <count>   the next <count> requests of Kafka API
 *                                       <apiKey> (0=Produce, 1=Fetch, 3=Metadata,
 *                                       8=OffsetCommit, 9=OffsetFetch,
 *                                       10=FindCoordinator, 11=JoinGroup,
 *                                       12=Heartbeat, 14=SyncGroup ...) fail
 *                                       with Kafka error code <errcode>
 *                                       (e.g. 6=NOT_LEADER_OR_FOLLOWER,
 *                                       7=REQUEST_TIMED_OUT, 15=COORDINATOR_NOT_AVAILABLE);
 *                                       errcode -195 (__TRANSPORT) makes the
 *                                       broker drop the connection instead
 *   clear <apiKey>                      drop pending injected errors for apiKey
 *   rtt <brokerId> <ms>                 add <ms> of latency to broker responses
 *   leader <topic> <partition> <brokerId>  move partition leadership
 *   create <topic> <partitions> [rf]    create a topic explicitly
 *   ping                                answers "ok ping"
 *
 * Example (from the repo root, after scripts/brokers/up.sh kafka):
 *   echo "down 1" > .brokers/kafka.ctl
 *   scripts/brokers/kafka-ctl.sh "down 1"   # same, but waits for the "ok"
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

static volatile sig_atomic_t run = 1;
static rd_kafka_mock_cluster_t *mcluster;
static FILE *ack_fp;

static void on_signal(int sig) {
        (void)sig;
        run = 0;
}

static void reply(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void reply(const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vfprintf(stdout, fmt, ap);
        va_end(ap);
        fputc('\n', stdout);
        fflush(stdout);
        if (ack_fp) {
                va_start(ap, fmt);
                vfprintf(ack_fp, fmt, ap);
                va_end(ap);
                fputc('\n', ack_fp);
                fflush(ack_fp);
        }
}

static int parse_broker(const char *s, int32_t *id) {
        char *end;
        long v;
        if (!s)
                return -1;
        if (!strcmp(s, "all")) {
                *id = -1;
                return 0;
        }
        v = strtol(s, &end, 10);
        if (*end || v < 0)
                return -1;
        *id = (int32_t)v;
        return 0;
}

static int parse_long(const char *s, long *out) {
        char *end;
        if (!s || !*s)
                return -1;
        *out = strtol(s, &end, 10);
        return *end ? -1 : 0;
}

static void handle_command(char *line) {
        char orig[4096];
        char *argv[8] = {0};
        int argc      = 0;
        char *save    = NULL, *tok;
        rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;

        line[strcspn(line, "\r\n")] = '\0';
        snprintf(orig, sizeof(orig), "%s", line);
        for (tok = strtok_r(line, " \t", &save); tok && argc < 8;
             tok = strtok_r(NULL, " \t", &save))
                argv[argc++] = tok;
        if (argc == 0 || argv[0][0] == '#')
                return;

        if (!strcmp(argv[0], "ping") && argc == 1) {
                /* nothing */
        } else if ((!strcmp(argv[0], "down") || !strcmp(argv[0], "up")) &&
                   argc == 2) {
                int32_t id;
                if (parse_broker(argv[1], &id) == -1) {
                        reply("err bad broker id: %s", orig);
                        return;
                }
                err = !strcmp(argv[0], "down")
                          ? rd_kafka_mock_broker_set_down(mcluster, id)
                          : rd_kafka_mock_broker_set_up(mcluster, id);
        } else if (!strcmp(argv[0], "errors") && argc == 4) {
                long api, code, cnt, i;
                rd_kafka_resp_err_t *errs;
                if (parse_long(argv[1], &api) || parse_long(argv[2], &code) ||
                    parse_long(argv[3], &cnt) || api < 0 || api > 32767 ||
                    cnt < 1 || cnt > 100000) {
                        reply("err usage: errors <apiKey> <errcode> <count>: %s",
                              orig);
                        return;
                }
                errs = calloc((size_t)cnt, sizeof(*errs));
                for (i = 0; i < cnt; i++)
                        errs[i] = (rd_kafka_resp_err_t)code;
                rd_kafka_mock_push_request_errors_array(mcluster, (int16_t)api,
                                                        (size_t)cnt, errs);
                free(errs);
        } else if (!strcmp(argv[0], "clear") && argc == 2) {
                long api;
                if (parse_long(argv[1], &api) || api < 0 || api > 32767) {
                        reply("err usage: clear <apiKey>: %s", orig);
                        return;
                }
                rd_kafka_mock_clear_request_errors(mcluster, (int16_t)api);
        } else if (!strcmp(argv[0], "rtt") && argc == 3) {
                int32_t id;
                long ms;
                if (parse_broker(argv[1], &id) || parse_long(argv[2], &ms) ||
                    ms < 0) {
                        reply("err usage: rtt <brokerId> <ms>: %s", orig);
                        return;
                }
                err = rd_kafka_mock_broker_set_rtt(mcluster, id, (int)ms);
        } else if (!strcmp(argv[0], "leader") && argc == 4) {
                long part, id;
                if (parse_long(argv[2], &part) || parse_long(argv[3], &id)) {
                        reply("err usage: leader <topic> <partition> "
                              "<brokerId>: %s",
                              orig);
                        return;
                }
                err = rd_kafka_mock_partition_set_leader(
                    mcluster, argv[1], (int32_t)part, (int32_t)id);
        } else if (!strcmp(argv[0], "create") && (argc == 3 || argc == 4)) {
                long parts, rf = 1;
                if (parse_long(argv[2], &parts) || parts < 1 ||
                    (argc == 4 && (parse_long(argv[3], &rf) || rf < 1))) {
                        reply("err usage: create <topic> <partitions> [rf]: %s",
                              orig);
                        return;
                }
                err = rd_kafka_mock_topic_create(mcluster, argv[1], (int)parts,
                                                 (int)rf);
        } else {
                reply("err unknown command: %s", orig);
                return;
        }

        if (err)
                reply("err %s: %s", rd_kafka_err2str(err), orig);
        else
                reply("ok %s", orig);
}

/* Line buffer per input fd. */
struct input {
        int fd;
        char buf[4096];
        size_t len;
};

/* Called when in->fd is readable: one read() (so a blocking tty is fine),
 * then run every complete line. */
static void drain(struct input *in) {
        ssize_t r = read(in->fd, in->buf + in->len,
                         sizeof(in->buf) - 1 - in->len);
        char *nl;
        if (r <= 0) {
                if (r == 0 && in->fd == STDIN_FILENO)
                        in->fd = -1; /* stdin closed: stop polling it */
                return;
        }
        in->len += (size_t)r;
        in->buf[in->len] = '\0';
        while ((nl = memchr(in->buf, '\n', in->len))) {
                size_t n = (size_t)(nl - in->buf) + 1;
                char line[4096];
                memcpy(line, in->buf, n);
                line[n] = '\0';
                handle_command(line);
                memmove(in->buf, in->buf + n, in->len - n);
                in->len -= n;
        }
        if (in->len == sizeof(in->buf) - 1)
                in->len = 0; /* overlong line: discard */
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac,
                   const char *msg) {
        (void)rk;
        if (level <= 4) /* warnings and worse go to stderr */
                fprintf(stderr, "kafka-mock: %s: %s\n", fac, msg);
}

int main(int argc, char **argv) {
        int brokers          = 3;
        const char *ctl_path = NULL, *ack_path = NULL;
        const char *topics[64];
        int topic_cnt = 0, opt, i;
        char errstr[512];
        rd_kafka_conf_t *conf;
        rd_kafka_t *rk;
        struct input inputs[2];
        int nin = 0;
        struct sigaction sa;

        while ((opt = getopt(argc, argv, "b:c:a:t:h")) != -1) {
                switch (opt) {
                case 'b':
                        brokers = atoi(optarg);
                        break;
                case 'c':
                        ctl_path = optarg;
                        break;
                case 'a':
                        ack_path = optarg;
                        break;
                case 't':
                        if (topic_cnt < 64)
                                topics[topic_cnt++] = optarg;
                        break;
                default:
                        fprintf(stderr,
                                "usage: %s [-b brokers] [-c ctl_fifo] "
                                "[-a ack_file] [-t topic:partitions[:rf]]...\n",
                                argv[0]);
                        return opt == 'h' ? 0 : 2;
                }
        }
        if (brokers < 1 || brokers > 16) {
                fprintf(stderr, "kafka-mock: -b must be 1..16\n");
                return 2;
        }

        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal;
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);

        conf = rd_kafka_conf_new();
        rd_kafka_conf_set_log_cb(conf, log_cb);
        /* This client instance only hosts the mock cluster; it never connects
         * anywhere itself (no bootstrap.servers). */
        if (rd_kafka_conf_set(conf, "client.id", "kafka-mock", errstr,
                              sizeof(errstr)) != RD_KAFKA_CONF_OK ||
            rd_kafka_conf_set(conf, "log_level", "3", errstr,
                              sizeof(errstr)) != RD_KAFKA_CONF_OK) {
                fprintf(stderr, "kafka-mock: conf: %s\n", errstr);
                return 1;
        }
        rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
        if (!rk) {
                fprintf(stderr, "kafka-mock: rd_kafka_new: %s\n", errstr);
                return 1;
        }
        mcluster = rd_kafka_mock_cluster_new(rk, brokers);
        if (!mcluster) {
                fprintf(stderr, "kafka-mock: failed to create mock cluster\n");
                rd_kafka_destroy(rk);
                return 1;
        }

        for (i = 0; i < topic_cnt; i++) {
                char spec[256], *name, *p, *r, *save = NULL;
                rd_kafka_resp_err_t err;
                snprintf(spec, sizeof(spec), "%s", topics[i]);
                name = strtok_r(spec, ":", &save);
                p    = strtok_r(NULL, ":", &save);
                r    = strtok_r(NULL, ":", &save);
                err  = rd_kafka_mock_topic_create(
                    mcluster, name, p ? atoi(p) : 4,
                    r ? atoi(r) : (brokers < 3 ? brokers : 3));
                if (err)
                        fprintf(stderr, "kafka-mock: create topic %s: %s\n",
                                name, rd_kafka_err2str(err));
        }

        if (ack_path) {
                ack_fp = fopen(ack_path, "a");
                if (!ack_fp) {
                        fprintf(stderr, "kafka-mock: %s: %s\n", ack_path,
                                strerror(errno));
                        return 1;
                }
        }

        if (ctl_path) {
                struct stat st;
                int fd;
                if (stat(ctl_path, &st) == 0 && !S_ISFIFO(st.st_mode))
                        unlink(ctl_path);
                if (mkfifo(ctl_path, 0600) == -1 && errno != EEXIST) {
                        fprintf(stderr, "kafka-mock: mkfifo %s: %s\n", ctl_path,
                                strerror(errno));
                        return 1;
                }
                /* O_RDWR: we hold a writer ourselves, so the FIFO never reports
                 * EOF when an `echo ... > fifo` writer closes, and writers
                 * never block or get ENXIO while we run. */
                fd = open(ctl_path, O_RDWR | O_NONBLOCK);
                if (fd == -1) {
                        fprintf(stderr, "kafka-mock: open %s: %s\n", ctl_path,
                                strerror(errno));
                        return 1;
                }
                inputs[nin].fd  = fd;
                inputs[nin].len = 0;
                nin++;
        }
        if (!isatty(STDIN_FILENO)) {
                struct stat st;
                /* Only read stdin if it is a pipe/FIFO/socket (not /dev/null). */
                if (fstat(STDIN_FILENO, &st) == 0 &&
                    (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))) {
                        inputs[nin].fd  = STDIN_FILENO;
                        inputs[nin].len = 0;
                        nin++;
                }
        } else {
                inputs[nin].fd  = STDIN_FILENO;
                inputs[nin].len = 0;
                nin++;
        }

        printf("%s\n", rd_kafka_mock_cluster_bootstraps(mcluster));
        fflush(stdout);

        while (run) {
                struct pollfd pfds[2];
                int n = 0, r;
                for (i = 0; i < nin; i++) {
                        if (inputs[i].fd < 0)
                                continue;
                        pfds[n].fd      = inputs[i].fd;
                        pfds[n].events  = POLLIN;
                        pfds[n].revents = 0;
                        n++;
                }
                r = poll(pfds, (nfds_t)n, 500);
                if (r <= 0)
                        continue;
                for (i = 0; i < nin; i++) {
                        int j;
                        for (j = 0; j < n; j++)
                                if (pfds[j].fd == inputs[i].fd &&
                                    (pfds[j].revents & (POLLIN | POLLHUP)))
                                        drain(&inputs[i]);
                }
        }

        rd_kafka_mock_cluster_destroy(mcluster);
        rd_kafka_destroy(rk);
        if (ctl_path)
                unlink(ctl_path);
        if (ack_fp)
                fclose(ack_fp);
        return 0;
}
