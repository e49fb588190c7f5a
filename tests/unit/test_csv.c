/* test_csv.c - the strict streaming CSV reader and `opstwin detect`. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "telemetry/csv.h"

static FILE *mem(const char *s)
{
    return fmemopen((void *)s, strlen(s), "r");
}

Test(csv, quoting_crlf_and_blank_lines)
{
    const char *in = "a,\"b,c\",\"say \"\"hi\"\"\"\r\n"
                     "\r\n"
                     "\"multi\nline\",,x\n"
                     "last,row";
    FILE *f = mem(in);
    ot_csv_reader *r = ot_csv_open(f, 0, 0);
    ot_csv_record rec;
    ot_error err;
    cr_assert_eq(ot_csv_next(r, &rec, &err), 1);
    cr_assert_eq(rec.nfields, 3);
    cr_assert_str_eq(rec.fields[0], "a");
    cr_assert_str_eq(rec.fields[1], "b,c");
    cr_assert_str_eq(rec.fields[2], "say \"hi\"");
    cr_assert_eq(rec.line, 1);
    cr_assert_eq(ot_csv_next(r, &rec, &err), 1);
    cr_assert_eq(rec.line, 3);
    cr_assert_eq(rec.nfields, 3);
    cr_assert_str_eq(rec.fields[0], "multi\nline");
    cr_assert_str_eq(rec.fields[1], "");
    cr_assert_eq(ot_csv_next(r, &rec, &err), 1);
    cr_assert_eq(rec.line, 5);
    cr_assert_str_eq(rec.fields[1], "row");
    cr_assert_eq(ot_csv_next(r, &rec, &err), 0);
    cr_assert_eq(ot_csv_next(r, &rec, &err), 0);
    ot_csv_close(r);
    fclose(f);
}

Test(csv, bom_is_skipped_and_header_detected)
{
    FILE *f = mem("\xEF\xBB\xBFtimestamp,value\n2014-02-14 14:30:00,1.5\n1392388200,7\n");
    ot_csv_reader *r = ot_csv_open(f, 0, 0);
    ot_csv_record rec;
    cr_assert_eq(ot_csv_next(r, &rec, NULL), 1);
    cr_assert_str_eq(rec.fields[0], "timestamp");
    cr_assert(ot_csv_is_header(&rec));
    cr_assert_eq(ot_csv_next(r, &rec, NULL), 1);
    cr_assert_not(ot_csv_is_header(&rec));
    cr_assert_eq(ot_csv_next(r, &rec, NULL), 1);
    cr_assert_not(ot_csv_is_header(&rec));
    ot_csv_close(r);
    fclose(f);

    f = mem("\xEF\xBBx,y\n"); /* a broken BOM is data, not skipped */
    r = ot_csv_open(f, 0, 0);
    cr_assert_eq(ot_csv_next(r, &rec, NULL), 1);
    cr_assert_str_eq(rec.fields[0], "\xEF\xBBx");
    ot_csv_close(r);
    fclose(f);
}

Test(csv, errors_name_the_line_and_stick)
{
    static const struct {
        const char *in, *msg;
    } bad[] = {
        {"a,b\nc,d\"e\n", "line 2: quote inside an unquoted field"},
        {"a\n\"x\"y\n", "line 2: text after a closing quote"},
        {"a\n\n\"open\nstill\n", "line 3: quoted field never closed"},
        {"a\rb\n", "line 1: carriage return not followed"},
        {"ok\nnul\0here\n", "line 2: NUL byte"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t len = strlen(bad[i].in);
        if (i == 4)
            len = 14;
        FILE *f = fmemopen((void *)bad[i].in, len, "r");
        ot_csv_reader *r = ot_csv_open(f, 0, 0);
        ot_csv_record rec;
        ot_error err;
        int rc;
        while ((rc = ot_csv_next(r, &rec, &err)) == 1)
            ;
        cr_assert_eq(rc, OT_EINVAL, "case %zu", i);
        cr_assert(strstr(err.message, bad[i].msg), "case %zu: %s", i, err.message);
        cr_assert_eq(ot_csv_next(r, &rec, &err), OT_EINVAL, "sticky");
        ot_csv_close(r);
        fclose(f);
    }
}

Test(csv, limits)
{
    char big[300];
    memset(big, 'x', sizeof big - 2);
    big[sizeof big - 2] = '\n';
    big[sizeof big - 1] = '\0';
    FILE *f = mem(big);
    ot_csv_reader *r = ot_csv_open(f, 100, 0);
    ot_csv_record rec;
    ot_error err;
    cr_assert_eq(ot_csv_next(r, &rec, &err), OT_EINVAL);
    cr_assert(strstr(err.message, "line 1: record too long"), "%s", err.message);
    ot_csv_close(r);
    fclose(f);

    f = mem("1,2,3,4\n");
    r = ot_csv_open(f, 0, 3);
    cr_assert_eq(ot_csv_next(r, &rec, &err), OT_EINVAL);
    cr_assert(strstr(err.message, "too many fields"), "%s", err.message);
    ot_csv_close(r);
    fclose(f);
}

/* --- opstwin detect ------------------------------------------------------- */

static char *write_temp(const char *content)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/ot_detect_XXXXXX");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, content, strlen(content)), (ssize_t)strlen(content));
    close(fd);
    return path;
}

static int detect(const char *path, const char *opt)
{
    char *argv[] = {"detect", (char *)(opt ? opt : path), (char *)path, NULL};
    int rc = ot_cmd_detect(opt ? 3 : 2, argv);
    fflush(stdout);
    return rc;
}

Test(cmd_detect, echoes_rows_and_scores, .init = cr_redirect_stdout)
{
    char *p = write_temp("timestamp,value\n"
                         "2014-02-14T14:30:00Z,1.5\n"
                         "2014-02-14 14:35:00,1.25\n"
                         "1392388800,1.75\n"
                         "1392389100000,2\n");
    cr_assert_eq(detect(p, NULL), 0);
    unlink(p);
    cr_assert_stdout_eq_str("timestamp,value,anomaly_score\n"
                            "2014-02-14T14:30:00Z,1.5,0.000000\n"
                            "2014-02-14 14:35:00,1.25,0.000000\n"
                            "1392388800,1.75,0.000000\n"
                            "1392389100000,2,0.000000\n");
}

Test(cmd_detect, spike_scores_high, .init = cr_redirect_stdout)
{
    char buf[8192] = "", line[64];
    for (int i = 0; i < 100; i++) {
        snprintf(line, sizeof line, "%d,%g\n", 1700000000 + 60 * i,
                 i == 80 ? 50.0 : 10.0 + (i % 7) * 0.1);
        strcat(buf, line);
    }
    char *p = write_temp(buf);
    cr_assert_eq(detect(p, NULL), 0);
    unlink(p);
    fflush(stdout);
    FILE *out = cr_get_redirected_stdout();
    char l[128];
    int row = -1;
    double spike = 0, best_other = 0;
    while (fgets(l, sizeof l, out)) {
        if (row >= 0) {
            double s = atof(strrchr(l, ',') + 1);
            if (row == 80)
                spike = s;
            else if (s > best_other)
                best_other = s;
        }
        row++;
    }
    cr_assert_eq(row, 100);
    cr_assert_gt(spike, 0.99);
    cr_assert_gt(spike, best_other);
}

Test(cmd_detect, bad_row_is_exit_2_naming_the_line, .init = cr_redirect_stderr)
{
    char *p = write_temp("timestamp,value\n2014-02-14 14:30:00,1\nyesterday,2\n");
    cr_assert_eq(detect(p, NULL), 2);
    fflush(stderr);
    char expect[256];
    snprintf(expect, sizeof expect,
             "opstwin detect: %s:3: timestamp is not RFC 3339, 'YYYY-MM-DD HH:MM:SS' or Unix "
             "seconds/ms\n",
             p);
    cr_assert_stderr_eq_str(expect);
    unlink(p);
}

Test(cmd_detect, skip_bad_and_usage, .init = cr_redirect_stdout)
{
    char *p = write_temp("2014-02-14 14:30:00,1\n2014-02-14 14:31:00,abc\n2014-02-14 14:32:00,3,4\n"
                         "2014-02-14 14:33:00,2\n");
    cr_assert_eq(detect(p, "--skip-bad"), 0);
    unlink(p);
    cr_assert_stdout_eq_str("timestamp,value,anomaly_score\n2014-02-14 14:30:00,1,0.000000\n"
                            "2014-02-14 14:33:00,2,0.000000\n");
}

Test(cmd_detect, usage_errors, .init = cr_redirect_stderr)
{
    char *a1[] = {"detect", NULL};
    cr_assert_eq(ot_cmd_detect(1, a1), 2);
    char *a2[] = {"detect", "--method", "magic", "x.csv", NULL};
    cr_assert_eq(ot_cmd_detect(4, a2), 2);
    char *a3[] = {"detect", "--frobnicate", NULL};
    cr_assert_eq(ot_cmd_detect(2, a3), 2);
    char *a4[] = {"detect", "/nonexistent/x.csv", NULL};
    cr_assert_eq(ot_cmd_detect(2, a4), 1);
}
