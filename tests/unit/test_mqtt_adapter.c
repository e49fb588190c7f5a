/* mqtt_adapter: URL parsing and the settings checks (the broker side is in
 * tests/blackbox/test_mqtt.c). */
#include <criterion/criterion.h>
#include <string.h>

#include "api/app.h"
#include "core/config.h"
#include "telemetry/mqtt_adapter.h"

Test(mqtt_adapter, url_forms)
{
    ot_mqtt_url u;
    ot_error e;
    cr_assert_eq(ot_mqtt_url_parse("mqtt://broker", &u, &e), 0);
    cr_assert_str_eq(u.host, "broker");
    cr_assert_eq(u.port, 1883);
    cr_assert_eq(u.tls, 0);
    cr_assert_str_eq(u.user, "");
    cr_assert_eq(ot_mqtt_url_parse("mqtts://10.0.0.2:9883/", &u, &e), 0);
    cr_assert_str_eq(u.host, "10.0.0.2");
    cr_assert_eq(u.port, 9883);
    cr_assert_eq(u.tls, 1);
    cr_assert_eq(ot_mqtt_url_parse("mqtts://h", &u, &e), 0);
    cr_assert_eq(u.port, 8883);
    cr_assert_eq(ot_mqtt_url_parse("mqtt://us%40er:p%3Ass@h:1", &u, &e), 0);
    cr_assert_str_eq(u.user, "us@er");
    cr_assert_str_eq(u.pass, "p:ss");
    cr_assert_str_eq(u.host, "h");
    cr_assert_eq(ot_mqtt_url_parse("mqtt://[::1]:1884", &u, &e), 0);
    cr_assert_str_eq(u.host, "::1");
    cr_assert_eq(u.port, 1884);
    cr_assert_eq(ot_mqtt_url_parse("mqtt://only-user@h", &u, &e), 0);
    cr_assert_str_eq(u.user, "only-user");
    cr_assert_str_eq(u.pass, "");
}

Test(mqtt_adapter, bad_urls_name_the_option)
{
    const char *bad[] = {"http://h", "mqtt://", "mqtt://h:0", "mqtt://h:70000", "mqtt://h:x",
                         "mqtt://[::1", "tcp://h:1883"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ot_mqtt_url u;
        ot_error e;
        ot_error_clear(&e);
        cr_assert_eq(ot_mqtt_url_parse(bad[i], &u, &e), OT_EINVAL, "%s", bad[i]);
        cr_assert_str_eq(e.path, "MQTT_URL", "%s", bad[i]);
    }
}

static int new_with(const char *url, const char *topics, const char *group, const char *dl,
                    ot_error *e)
{
    ot_app app;
    memset(&app, 0, sizeof app);
    ot_config_defaults(&app.cfg);
    snprintf(app.cfg.mqtt_url, sizeof app.cfg.mqtt_url, "%s", url);
    if (topics)
        snprintf(app.cfg.mqtt_topics, sizeof app.cfg.mqtt_topics, "%s", topics);
    if (group)
        snprintf(app.cfg.mqtt_share_group, sizeof app.cfg.mqtt_share_group, "%s", group);
    if (dl)
        snprintf(app.cfg.mqtt_deadletter_topic, sizeof app.cfg.mqtt_deadletter_topic, "%s", dl);
    ot_mqtt *m = NULL;
    ot_error_clear(e);
    int rc = ot_mqtt_new(&app, &m, e);
    ot_mqtt_free(m);
    return rc;
}

Test(mqtt_adapter, settings_are_checked_before_connecting)
{
    ot_error e;
    cr_assert_eq(new_with("", NULL, NULL, NULL, &e), 0, "MQTT off");
    cr_assert_eq(new_with("mqtt://127.0.0.1:1", NULL, NULL, NULL, &e), 0, "%s", e.message);
    cr_assert_eq(new_with("mqtt://127.0.0.1:1", "a/+/+, b/#", "grp", NULL, &e), 0, "%s",
                 e.message);
    cr_assert_eq(new_with("mqtt://h", "a/#/b", NULL, NULL, &e), OT_EINVAL);
    cr_assert_str_eq(e.path, "MQTT_TOPICS");
    cr_assert_eq(new_with("mqtt://h", " , ", NULL, NULL, &e), OT_EINVAL);
    cr_assert_str_eq(e.path, "MQTT_TOPICS");
    cr_assert_eq(new_with("mqtt://h", NULL, "a/b", NULL, &e), OT_EINVAL);
    cr_assert_str_eq(e.path, "MQTT_SHARE_GROUP");
    cr_assert_eq(new_with("mqtt://h", NULL, NULL, "dead/+", &e), OT_EINVAL);
    cr_assert_str_eq(e.path, "MQTT_DEADLETTER_TOPIC");
}

Test(mqtt_adapter, secrets_are_masked_in_print_config)
{
    ot_config c;
    ot_config_defaults(&c);
    snprintf(c.mqtt_url, sizeof c.mqtt_url, "mqtts://u:pw1@b:8883");
    snprintf(c.mqtt_password, sizeof c.mqtt_password, "pw2");
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ot_config_print(&c, f);
    fclose(f);
    cr_assert(strstr(buf, "MQTT_URL=mqtts://***@b:8883\n"), "%s", buf);
    cr_assert(strstr(buf, "MQTT_PASSWORD=***\n"), "%s", buf);
    cr_assert(!strstr(buf, "pw1") && !strstr(buf, "pw2"));
    cr_assert(strstr(buf, "MQTT_TOPICS=opstwin/telemetry/+/+\n"), "%s", buf);
    free(buf);
}
