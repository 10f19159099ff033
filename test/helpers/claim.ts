import { tryClaimJob, type Claim } from '../../shared/jobs';

/** tryClaimJob reduced to the claim, or undefined when the job could not be claimed (any reason). */
export async function claimJob(...args: Parameters<typeof tryClaimJob>): Promise<Claim | undefined> {
  const a = await tryClaimJob(...args);
  return a.kind === 'claimed' ? a.claim : undefined;
}
