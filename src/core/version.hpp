#pragma once

namespace tms {
inline constexpr const char* version = "0.1.0";
}
