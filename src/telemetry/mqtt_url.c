/* mqtt_url.c - MQTT_URL parsing (see ot_mqtt_url_parse in mqtt_adapter.h). */
#include <stdlib.h>
#include <string.h>

#include "core/url.h"
#include "telemetry/mqtt_adapter.h"

int ot_mqtt_url_parse(const char *url, ot_mqtt_url *out, ot_error *err)
{
    memset(out, 0, sizeof *out);
    const char *p;
    if (strncmp(url, "mqtt://", 7) == 0) {
        p = url + 7;
        out->port = 1883;
    } else if (strncmp(url, "mqtts://", 8) == 0) {
        p = url + 8;
        out->tls = 1;
        out->port = 8883;
    } else {
        return ot_error_set(err, OT_EINVAL, "MQTT_URL",
                            "MQTT_URL must look like mqtt://host:port or mqtts://host:port");
    }
    const char *end = p + strcspn(p, "/?#");
    const char *at = NULL;
    for (const char *q = p; q < end; q++)
        if (*q == '@')
            at = q;
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *ue = colon ? colon : at;
        if (ot_pct_decode(p, (size_t)(ue - p), out->user, sizeof out->user) ||
            (colon && ot_pct_decode(colon + 1, (size_t)(at - colon - 1), out->pass,
                                 sizeof out->pass)))
            return ot_error_set(err, OT_EINVAL, "MQTT_URL", "MQTT_URL: user name or password too "
                                "long");
        p = at + 1;
    }
    const char *hs = p, *he;
    const char *portp = NULL;
    if (*p == '[') {
        he = memchr(p, ']', (size_t)(end - p));
        if (!he)
            return ot_error_set(err, OT_EINVAL, "MQTT_URL", "MQTT_URL: unterminated [IPv6] host");
        hs = p + 1;
        if (he + 1 < end && he[1] == ':')
            portp = he + 2;
    } else {
        const char *colon = memchr(p, ':', (size_t)(end - p));
        he = colon ? colon : end;
        if (colon)
            portp = colon + 1;
    }
    if (he == hs || (size_t)(he - hs) >= sizeof out->host)
        return ot_error_set(err, OT_EINVAL, "MQTT_URL", "MQTT_URL has no host");
    memcpy(out->host, hs, (size_t)(he - hs));
    out->host[he - hs] = '\0';
    if (portp) {
        char *e;
        long v = strtol(portp, &e, 10);
        if (e == portp || e != end || v < 1 || v > 65535)
            return ot_error_set(err, OT_EINVAL, "MQTT_URL", "MQTT_URL: the port must be 1..65535");
        out->port = (int)v;
    }
    return 0;
}

