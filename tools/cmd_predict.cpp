#include "tools/commands.h"
namespace cnx { int cmd_predict(const Argv&) { return 1; } }
