/* The names of the core's results, as log lines and tests show them. */
#include "result.h"

const char *extid_result_name(enum extid_result r)
{
    switch (r) {
    case EXTID_OK: return "ok";
    case EXTID_AUTH_ERR: return "auth_err";
    case EXTID_MAXTRIES: return "maxtries";
    case EXTID_UNAVAILABLE: return "unavailable";
    case EXTID_USER_UNKNOWN: return "user_unknown";
    case EXTID_IGNORE: return "ignore";
    case EXTID_CONFIG_ERR: return "config_err";
    case EXTID_CONV_ERR: return "conv_err";
    case EXTID_SYSTEM_ERR: return "system_err";
    }
    return "unknown_result";
}
