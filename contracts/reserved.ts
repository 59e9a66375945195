/** Names the system gives itself, which no policy may take. */

/** The perimeter the control server adds to every workload's policy while an identity is quarantined. */
export const QUARANTINE_PERIMETER = 'quarantine';
