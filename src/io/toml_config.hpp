// The TOML form of train_config. Keys mirror the CLI flags (with underscores); an unknown or mistyped key is
// an error naming the key. The instance axes: `density` (a number or a list), `importance` (a base or an
// explicit list of n weights: one importance vector) or `importances` (a list whose entries are bases or
// lists: the importance axis), and `restarts`.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "core/config.hpp"

namespace tms::io {

struct toml_document;  // opaque parsed file

// Parses the file; throws usage_error "config: FILE:LINE:COL: what" for an unreadable or garbled file.
std::shared_ptr<toml_document> toml_parse_config(const std::filesystem::path& path);

// The file's `preset` key, if any (the preset chooses the defaults the other keys then override).
std::optional<std::string> toml_preset(const toml_document& doc);

// Whether the file sets `key` (the front door then keeps it over a model's default, e.g. values).
bool toml_has(const toml_document& doc, std::string_view key);

// Sets every key of the file on `config`; throws usage_error naming the key for an unknown key or a wrong
// type.
void toml_apply(train_config& config, const toml_document& doc);

}  // namespace tms::io
