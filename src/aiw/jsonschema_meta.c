/* jsonschema_meta.c - the draft 2020-12 meta-schemas, built in.
 *
 * The official documents of https://json-schema.org/draft/2020-12/ (the
 * schema and its vocabulary meta-schemas), minified, so that a $ref to them
 * (or a "$schema" naming them) resolves without any network access.
 *
 * Contract: read-only table; js_meta_find returns static text or NULL.
 */
#include <string.h>

#include "aiw/jsonschema_internal.h"

static const struct {
    const char *uri;
    const char *text;
} metas[] = {
    {"https://json-schema.org/draft/2020-12/schema",
     "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$id\":\"https://json-schem"
     "a.org/draft/2020-12/schema\",\"$vocabulary\":{\"https://json-schema.org/draft/2020-12/voca"
     "b/core\":true,\"https://json-schema.org/draft/2020-12/vocab/applicator\":true,\"https://js"
     "on-schema.org/draft/2020-12/vocab/unevaluated\":true,\"https://json-schema.org/draft/2020-"
     "12/vocab/validation\":true,\"https://json-schema.org/draft/2020-12/vocab/meta-data\":true,"
     "\"https://json-schema.org/draft/2020-12/vocab/format-annotation\":true,\"https://json-sche"
     "ma.org/draft/2020-12/vocab/content\":true},\"$dynamicAnchor\":\"meta\",\"title\":\"Core an"
     "d Validation specifications meta-schema\",\"allOf\":[{\"$ref\":\"meta/core\"},{\"$ref\":\""
     "meta/applicator\"},{\"$ref\":\"meta/unevaluated\"},{\"$ref\":\"meta/validation\"},{\"$ref\""
     ":\"meta/meta-data\"},{\"$ref\":\"meta/format-annotation\"},{\"$ref\":\"meta/content\"}],\""
     "type\":[\"object\",\"boolean\"],\"$comment\":\"This meta-schema also defines keywords that"
     " have appeared in previous drafts in order to prevent incompatible extensions as they rema"
     "in in common use.\",\"properties\":{\"definitions\":{\"$comment\":\"\\\"definitions\\\" ha"
     "s been replaced by \\\"$defs\\\".\",\"type\":\"object\",\"additionalProperties\":{\"$dynam"
     "icRef\":\"#meta\"},\"deprecated\":true,\"default\":{}},\"dependencies\":{\"$comment\":\"\\\""
     "dependencies\\\" has been split and replaced by \\\"dependentSchemas\\\" and \\\"dependent"
     "Required\\\" in order to serve their differing semantics.\",\"type\":\"object\",\"addition"
     "alProperties\":{\"anyOf\":[{\"$dynamicRef\":\"#meta\"},{\"$ref\":\"meta/validation#/$defs/"
     "stringArray\"}]},\"deprecated\":true,\"default\":{}},\"$recursiveAnchor\":{\"$comment\":\""
     "\\\"$recursiveAnchor\\\" has been replaced by \\\"$dynamicAnchor\\\".\",\"$ref\":\"meta/co"
     "re#/$defs/anchorString\",\"deprecated\":true},\"$recursiveRef\":{\"$comment\":\"\\\"$recur"
     "siveRef\\\" has been replaced by \\\"$dynamicRef\\\".\",\"$ref\":\"meta/core#/$defs/uriRef"
     "erenceString\",\"deprecated\":true}}}"
    },
    {"https://json-schema.org/draft/2020-12/meta/applicator",
     "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$id\":\"https://json-schem"
     "a.org/draft/2020-12/meta/applicator\",\"$vocabulary\":{\"https://json-schema.org/draft/202"
     "0-12/vocab/applicator\":true},\"$dynamicAnchor\":\"meta\",\"title\":\"Applicator vocabular"
     "y meta-schema\",\"type\":[\"object\",\"boolean\"],\"properties\":{\"prefixItems\":{\"$ref\""
     ":\"#/$defs/schemaArray\"},\"items\":{\"$dynamicRef\":\"#meta\"},\"contains\":{\"$dynamicRe"
     "f\":\"#meta\"},\"additionalProperties\":{\"$dynamicRef\":\"#meta\"},\"properties\":{\"type"
     "\":\"object\",\"additionalProperties\":{\"$dynamicRef\":\"#meta\"},\"default\":{}},\"patte"
     "rnProperties\":{\"type\":\"object\",\"additionalProperties\":{\"$dynamicRef\":\"#meta\"},\""
     "propertyNames\":{\"format\":\"regex\"},\"default\":{}},\"dependentSchemas\":{\"type\":\"ob"
     "ject\",\"additionalProperties\":{\"$dynamicRef\":\"#meta\"},\"default\":{}},\"propertyName"
     "s\":{\"$dynamicRef\":\"#meta\"},\"if\":{\"$dynamicRef\":\"#meta\"},\"then\":{\"$dynamicRef"
     "\":\"#meta\"},\"else\":{\"$dynamicRef\":\"#meta\"},\"allOf\":{\"$ref\":\"#/$defs/schemaArr"
     "ay\"},\"anyOf\":{\"$ref\":\"#/$defs/schemaArray\"},\"oneOf\":{\"$ref\":\"#/$defs/schemaArr"
     "ay\"},\"not\":{\"$dynamicRef\":\"#meta\"}},\"$defs\":{\"schemaArray\":{\"type\":\"array\","
     "\"minItems\":1,\"items\":{\"$dynamicRef\":\"#meta\"}}}}"
    },
    {"https://json-schema.org/draft/2020-12/meta/content",
     "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$id\":\"https://json-schem"
     "a.org/draft/2020-12/meta/content\",\"$vocabulary\":{\"https://json-schema.org/draft/2020-1"
     "2/vocab/content\":true},\"$dynamicAnchor\":\"meta\",\"title\":\"Content vocabulary meta-sc"
     "hema\",\"type\":[\"object\",\"boolean\"],\"properties\":{\"contentEncoding\":{\"type\":\"s"
     "tring\"},\"contentMediaType\":{\"type\":\"string\"},\"contentSchema\":{\"$dynamicRef\":\"#"
     "meta\"}}}"
    },
    {"https://json-schema.org/draft/2020-12/meta/core",
     "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$id\":\"https://json-schem"
     "a.org/draft/2020-12/meta/core\",\"$vocabulary\":{\"https://json-schema.org/draft/2020-12/v"
     "ocab/core\":true},\"$dynamicAnchor\":\"meta\",\"title\":\"Core vocabulary meta-schema\",\""
     "type\":[\"object\",\"boolean\"],\"properties\":{\"$id\":{\"$ref\":\"#/$defs/uriReferenceSt"
     "ring\",\"$comment\":\"Non-empty fragments not allowed.\",\"pattern\":\"^[^#]*#?$\"},\"$sch"
     "ema\":{\"$ref\":\"#/$defs/uriString\"},\"$ref\":{\"$ref\":\"#/$defs/uriReferenceString\"},"
     "\"$anchor\":{\"$ref\":\"#/$defs/anchorString\"},\"$dynamicRef\":{\"$ref\":\"#/$defs/uriRef"
     "erenceString\"},\"$dynamicAnchor\":{\"$ref\":\"#/$defs/anchorString\"},\"$vocabulary\":{\""
     "type\":\"object\",\"propertyNames\":{\"$ref\":\"#/$defs/uriString\"},\"additionalPropertie"
     "s\":{\"type\":\"boolean\"}},\"$comment\":{\"type\":\"string\"},\"$defs\":{\"type\":\"objec"
     "t\",\"additionalProperties\":{\"$dynamicRef\":\"#meta\"}}},\"$defs\":{\"anchorString\":{\""
     "type\":\"string\",\"pattern\":\"^[A-Za-z_][-A-Za-z0-9._]*$\"},\"uriString\":{\"type\":\"st"
     "ring\",\"format\":\"uri\"},\"uriReferenceString\":{\"type\":\"string\",\"format\":\"uri-re"
     "ference\"}}}"
    },
    {"https://json-schema.org/draft/2020-12/meta/format-annotation",
     "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$id\":\"https://json-schem"
     "a.org/draft/2020-12/meta/format-annotation\",\"$vocabulary\":{\"https://json-schema.org/dr"
     "aft/2020-12/vocab/format-annotation\":true},\"$dynamicAnchor\":\"meta\",\"title\":\"Format"
     " vocabulary meta-schema for annotation results\",\"type\":[\"object\",\"boolean\"],\"prope"
     "rties\":{\"format\":{\"type\":\"string\"}}}"
    },
    {"https://json-schema.org/draft/2020-12/meta/format-assertion",
     "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$id\":\"https://json-schem"
     "a.org/draft/2020-12/meta/format-assertion\",\"$vocabulary\":{\"https://json-schema.org/dra"
     "ft/2020-12/vocab/format-assertion\":true},\"$dynamicAnchor\":\"meta\",\"title\":\"Format v"
     "ocabulary meta-schema for assertion results\",\"type\":[\"object\",\"boolean\"],\"properti"
     "es\":{\"format\":{\"type\":\"string\"}}}"
    },
    {"https://json-schema.org/draft/2020-12/meta/meta-data",
     "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$id\":\"https://json-schem"
     "a.org/draft/2020-12/meta/meta-data\",\"$vocabulary\":{\"https://json-schema.org/draft/2020"
     "-12/vocab/meta-data\":true},\"$dynamicAnchor\":\"meta\",\"title\":\"Meta-data vocabulary m"
     "eta-schema\",\"type\":[\"object\",\"boolean\"],\"properties\":{\"title\":{\"type\":\"strin"
     "g\"},\"description\":{\"type\":\"string\"},\"default\":true,\"deprecated\":{\"type\":\"boo"
     "lean\",\"default\":false},\"readOnly\":{\"type\":\"boolean\",\"default\":false},\"writeOnl"
     "y\":{\"type\":\"boolean\",\"default\":false},\"examples\":{\"type\":\"array\",\"items\":tr"
     "ue}}}"
    },
    {"https://json-schema.org/draft/2020-12/meta/unevaluated",
     "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$id\":\"https://json-schem"
     "a.org/draft/2020-12/meta/unevaluated\",\"$vocabulary\":{\"https://json-schema.org/draft/20"
     "20-12/vocab/unevaluated\":true},\"$dynamicAnchor\":\"meta\",\"title\":\"Unevaluated applic"
     "ator vocabulary meta-schema\",\"type\":[\"object\",\"boolean\"],\"properties\":{\"unevalua"
     "tedItems\":{\"$dynamicRef\":\"#meta\"},\"unevaluatedProperties\":{\"$dynamicRef\":\"#meta\""
     "}}}"
    },
    {"https://json-schema.org/draft/2020-12/meta/validation",
     "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$id\":\"https://json-schem"
     "a.org/draft/2020-12/meta/validation\",\"$vocabulary\":{\"https://json-schema.org/draft/202"
     "0-12/vocab/validation\":true},\"$dynamicAnchor\":\"meta\",\"title\":\"Validation vocabular"
     "y meta-schema\",\"type\":[\"object\",\"boolean\"],\"properties\":{\"type\":{\"anyOf\":[{\""
     "$ref\":\"#/$defs/simpleTypes\"},{\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/simpleTy"
     "pes\"},\"minItems\":1,\"uniqueItems\":true}]},\"const\":true,\"enum\":{\"type\":\"array\","
     "\"items\":true},\"multipleOf\":{\"type\":\"number\",\"exclusiveMinimum\":0},\"maximum\":{\""
     "type\":\"number\"},\"exclusiveMaximum\":{\"type\":\"number\"},\"minimum\":{\"type\":\"numb"
     "er\"},\"exclusiveMinimum\":{\"type\":\"number\"},\"maxLength\":{\"$ref\":\"#/$defs/nonNega"
     "tiveInteger\"},\"minLength\":{\"$ref\":\"#/$defs/nonNegativeIntegerDefault0\"},\"pattern\""
     ":{\"type\":\"string\",\"format\":\"regex\"},\"maxItems\":{\"$ref\":\"#/$defs/nonNegativeIn"
     "teger\"},\"minItems\":{\"$ref\":\"#/$defs/nonNegativeIntegerDefault0\"},\"uniqueItems\":{\""
     "type\":\"boolean\",\"default\":false},\"maxContains\":{\"$ref\":\"#/$defs/nonNegativeInteg"
     "er\"},\"minContains\":{\"$ref\":\"#/$defs/nonNegativeInteger\",\"default\":1},\"maxPropert"
     "ies\":{\"$ref\":\"#/$defs/nonNegativeInteger\"},\"minProperties\":{\"$ref\":\"#/$defs/nonN"
     "egativeIntegerDefault0\"},\"required\":{\"$ref\":\"#/$defs/stringArray\"},\"dependentRequi"
     "red\":{\"type\":\"object\",\"additionalProperties\":{\"$ref\":\"#/$defs/stringArray\"}}},\""
     "$defs\":{\"nonNegativeInteger\":{\"type\":\"integer\",\"minimum\":0},\"nonNegativeIntegerD"
     "efault0\":{\"$ref\":\"#/$defs/nonNegativeInteger\",\"default\":0},\"simpleTypes\":{\"enum\""
     ":[\"array\",\"boolean\",\"integer\",\"null\",\"number\",\"object\",\"string\"]},\"stringAr"
     "ray\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},\"uniqueItems\":true,\"default\""
     ":[]}}}"
    },
};

const char *js_meta_find(const char *uri)
{
    for (size_t i = 0; i < sizeof metas / sizeof metas[0]; i++)
        if (strcmp(metas[i].uri, uri) == 0)
            return metas[i].text;
    return NULL;
}
