#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/log.h"

Test(config, defaults)
{
    ot_config c;
    ot_config_defaults(&c);
    cr_assert_str_eq(c.host, "127.0.0.1");
    cr_assert_eq(c.port, 8000);
    cr_assert_eq(c.log_level, OT_LOG_INFO);
    cr_assert_eq(c.max_body_bytes, 1048576);
    cr_assert_str_eq(c.cors_origins, "");
}

Test(config, dotenv_parsing)
{
    char path[] = "/tmp/ot-dotenv-XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "\n# a comment\nexport HOST = 0.0.0.0\nPORT='9001'\nLOG_LEVEL=\"ERROR\"\n"
               "CORS_ORIGINS=http://x # trailing comment\nOTHER_TOOL=whatever\n");
    fclose(f);
    ot_config c;
    ot_error e;
    ot_config_defaults(&c);
    unsetenv("HOST");
    unsetenv("PORT");
    unsetenv("LOG_LEVEL");
    unsetenv("CORS_ORIGINS");
    cr_assert_eq(ot_config_load_dotenv(&c, path, &e), 0, "%s", e.message);
    cr_assert_str_eq(c.host, "0.0.0.0");
    cr_assert_eq(c.port, 9001);
    cr_assert_eq(c.log_level, OT_LOG_ERROR);
    cr_assert_str_eq(c.cors_origins, "http://x");
    /* the environment wins over .env */
    setenv("PORT", "9002", 1);
    ot_config_defaults(&c);
    cr_assert_eq(ot_config_load_dotenv(&c, path, &e), 0);
    cr_assert_eq(c.port, 8000);
    unsetenv("PORT");
    unlink(path);
}

Test(config, dotenv_bad_value_names_line)
{
    char path[] = "/tmp/ot-dotenv-XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "HOST=127.0.0.1\nPORT=high\n");
    fclose(f);
    unsetenv("PORT");
    ot_config c;
    ot_error e;
    ot_config_defaults(&c);
    cr_assert_eq(ot_config_load_dotenv(&c, path, &e), OT_EINVAL);
    cr_assert(strstr(e.message, "line 2"), "%s", e.message);
    cr_assert(strstr(e.message, "PORT"), "%s", e.message);
    unlink(path);
}

Test(config, args_forms_and_rest)
{
    ot_config c;
    ot_error e;
    ot_config_defaults(&c);
    char *argv[] = {"serve", "--port=8100", "--host", "::1", "--public-read", "--print-config",
                    "file.csv", NULL};
    const char *extra[] = {"--print-config", NULL};
    int rest[8], nrest;
    cr_assert_eq(ot_config_load_args(&c, 7, argv, extra, rest, &nrest, &e), 0, "%s", e.message);
    cr_assert_eq(c.port, 8100);
    cr_assert_str_eq(c.host, "::1");
    cr_assert_eq(c.public_read, 1);
    cr_assert_eq(nrest, 2);
    cr_assert_str_eq(argv[rest[0]], "--print-config");
    cr_assert_str_eq(argv[rest[1]], "file.csv");
}

Test(config, args_errors_name_the_flag)
{
    ot_config c;
    ot_error e;
    int rest[8], nrest;
    ot_config_defaults(&c);
    char *a1[] = {"serve", "--max-body-bytes", "12", NULL};
    cr_assert_eq(ot_config_load_args(&c, 3, a1, NULL, rest, &nrest, &e), OT_EINVAL);
    cr_assert(strstr(e.message, "--max-body-bytes"), "%s", e.message);
    cr_assert(strstr(e.message, "1024"), "%s", e.message);
    char *a2[] = {"serve", "--nope", NULL};
    cr_assert_eq(ot_config_load_args(&c, 2, a2, NULL, rest, &nrest, &e), OT_EINVAL);
    cr_assert(strstr(e.message, "--nope"));
}

Test(config, print_masks_secrets)
{
    ot_config c;
    ot_config_defaults(&c);
    strcpy(c.jwt_secret, "hunter2");
    strcpy(c.database_url, "postgresql://bob:pw@db.example:5432/twin");
    strcpy(c.redis_url, "redis://127.0.0.1:6379");
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ot_config_print(&c, f);
    fclose(f);
    cr_assert(!strstr(text, "hunter2"));
    cr_assert(!strstr(text, "bob:pw"));
    cr_assert(strstr(text, "DATABASE_URL=postgresql://***@db.example:5432/twin\n"), "%s", text);
    cr_assert(strstr(text, "REDIS_URL=redis://127.0.0.1:6379\n"), "%s", text);
    free(text);
}

Test(log, level_names)
{
    cr_assert_eq(ot_log_level_parse("WARN"), OT_LOG_WARNING);
    cr_assert_eq(ot_log_level_parse("Warning"), OT_LOG_WARNING);
    cr_assert_eq(ot_log_level_parse("critical"), OT_LOG_CRITICAL);
    cr_assert_eq(ot_log_level_parse("trace"), -1);
    cr_assert_eq(ot_log_level_parse(NULL), -1);
}

Test(config, kafka_options)
{
    ot_config c;
    ot_config_defaults(&c);
    cr_assert_str_eq(c.kafka_bootstrap, "");
    cr_assert_str_eq(c.kafka_topic, "opstwin.events");
    cr_assert_str_eq(c.kafka_properties, "");
    cr_assert_eq(c.kafka_flush_timeout_ms, 10000);
    char *argv[] = {"serve", "--kafka-topic=t1", "--kafka-flush-timeout-ms", "250",
                    "--kafka-properties", "sasl.password=s3cret,linger.ms=1"};
    int rest[8], nrest = 0;
    ot_error err;
    cr_assert_eq(ot_config_load_args(&c, 6, argv, NULL, rest, &nrest, &err), 0, "%s", err.message);
    cr_assert_str_eq(c.kafka_topic, "t1");
    cr_assert_eq(c.kafka_flush_timeout_ms, 250);
    /* the properties may hold credentials: masked like a secret */
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ot_config_print(&c, f);
    fclose(f);
    cr_assert(!strstr(text, "s3cret"), "%s", text);
    cr_assert(strstr(text, "KAFKA_PROPERTIES=***\n"), "%s", text);
    free(text);
    char *bad[] = {"serve", "--kafka-flush-timeout-ms", "-1"};
    cr_assert_neq(ot_config_load_args(&c, 3, bad, NULL, rest, &nrest, &err), 0);
    cr_assert(strstr(err.message, "--kafka-flush-timeout-ms"), "%s", err.message);
}
