/* ocimirror app match / app device: the subcommands of cmd_app.c's table
 * that read DeviceCapabilitiesManifests (cli/cmd_app_device.c). */
#ifndef CLI_CMD_APP_DEVICE_H
#define CLI_CMD_APP_DEVICE_H

#include "cli/cli.h"

int app_match(int argc, char **argv, struct cli *cli);
int app_device(int argc, char **argv, struct cli *cli);

#endif
