/**
 * The crafting sync's binary format, as the server speaks it. The definition lives with the client library
 * (`src/client/crafting-wire.ts`, which may import nothing of the server); this module is the server's name for it.
 */
export * from '../client/crafting-wire';
