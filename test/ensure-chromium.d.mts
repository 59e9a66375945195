export declare const CANDIDATES: (string | undefined)[];
export declare function findChromium(): string | undefined;
