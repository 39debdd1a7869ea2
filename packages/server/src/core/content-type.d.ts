// content-type (jshttp) ships no types: the part media-types.ts uses.
declare module 'content-type' {
  export interface ParsedMediaType {
    type: string;
    parameters: Record<string, string>;
  }
  export function parse(header: string): ParsedMediaType;
  export function format(obj: ParsedMediaType): string;
  const contentType: { parse: typeof parse; format: typeof format };
  export default contentType;
}
