#include "tools/commands.h"
namespace cnx { int cmd_eval(const Argv&) { return 1; } }
