import type { Command } from 'commander';
import type { CliIo } from '../cli-io';
import { registerAudit } from './audit';
import { registerConfig } from './config';
import { registerExchange, registerGcpCredentialConfig } from './exchange';
import { registerExec } from './exec';
import { registerIssuer } from './issuer';
import { registerListIdps } from './list-idps';
import { registerListKeys } from './list-keys';
import { registerMint } from './mint';
import { registerPolicy } from './policy';
import { registerVersion } from './version';
import { registerWhoami } from './whoami';

/** Adds one command (with its options, help and action) to the program. */
export type RegisterCommand = (program: Command, io: CliIo) => void;

/**
 * Every command, in the order `voidkey --help` lists them. A new command is a file
 * in this folder exporting a RegisterCommand, plus its line here.
 */
export const COMMANDS: readonly RegisterCommand[] = [
  registerMint,
  registerExec,
  registerExchange,
  registerGcpCredentialConfig,
  registerListKeys,
  registerListIdps,
  registerWhoami,
  registerConfig,
  registerPolicy,
  registerAudit,
  registerIssuer,
  registerVersion,
];
