export declare const CANDIDATES: (string | undefined)[];
export declare function findEtcd(): string | undefined;
