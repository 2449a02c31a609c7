// The migrations embedded in this binary, in version order (from erds-core/migrations/*.sql).
#pragma once

#include <vector>

#include "erds/base/migrations.h"

namespace erds {

const std::vector<pg::Migration>& allMigrations();

}  // namespace erds
