// Entry point for tests that run the agent as its own process (the CLI's `run` does the same).
import { runAgent } from '../../../host/agent/run.js';

process.exitCode = await runAgent(process.argv.slice(2));
