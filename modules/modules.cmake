# The one ordered module list. First listed runs first: phase handlers run in
# this order within their phase, and header/body filters are chained in this
# order (the first listed filter sees the response first).
#
# bw_module(<name> <REQUIRED|ON|OFF> <configure-name|-> <nginx-default YES|NO> <sources...>)
#   REQUIRED  always built; ON/OFF: default of the option BULWARK_<NAME>
#   configure-name: how nginx's ./configure names it, for `bulwark -V`
#   nginx-default YES: nginx builds it unless --without-<name>;
#                 NO: nginx needs --with-<name>
#
# Positions that matter are commented where they are.

bw_module(core    REQUIRED - NO core/core_module.c)
bw_module(events  REQUIRED - NO event/events_module.c)
