export { buildProgram, type CliIO, EXIT } from './program.js';
