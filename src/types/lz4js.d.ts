/** lz4js 0.2 (LZ4 frame format, pure JavaScript): the two calls EdgeRooms uses. */
declare module 'lz4js' {
  /** An LZ4 frame (magic 0x184D2204) holding `src`. */
  export function compress(src: Uint8Array, maxSize?: number): Uint8Array;
  /** The bytes of an LZ4 frame; `maxSize` bounds the output. */
  export function decompress(src: Uint8Array, maxSize?: number): Uint8Array;
}
