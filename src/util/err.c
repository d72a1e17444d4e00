/*
 * err.c: messages and names of the CW_E* codes, from CW_ERRNO_MAP.
 */
#include "cartwise/cw_err.h"

const char *cw_strerror(int code)
{
    switch (code) {
#define CW__ERR_MSG(name, val, msg)                                            \
    case CW_##name:                                                            \
        return msg;
        CW_ERRNO_MAP(CW__ERR_MSG)
#undef CW__ERR_MSG
    }
    return code == 0 ? "success" : "unknown error";
}

const char *cw_errname(int code)
{
    switch (code) {
#define CW__ERR_NAME(name, val, msg)                                           \
    case CW_##name:                                                            \
        return #name;
        CW_ERRNO_MAP(CW__ERR_NAME)
#undef CW__ERR_NAME
    }
    return code == 0 ? "OK" : "EUNKNOWN";
}
