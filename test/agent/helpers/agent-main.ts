// Entry point for tests that run the agent as its own process: the CLI itself (`run` and its arguments).
import { main } from '../../../host/cli.js';

process.exitCode = await main(process.argv.slice(2));
