// The portal's only stylesheet and script, compiled in and served from /static/ (same origin, so
// the Content-Security-Policy needs no 'unsafe-inline'). The script is progressive enhancement
// only: every form works without it.
#pragma once

#include <string_view>

namespace erds::portal::internal {

extern const std::string_view kPortalCss;
extern const std::string_view kPortalJs;

}  // namespace erds::portal::internal
