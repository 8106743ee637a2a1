import type { BridgeConfig } from '../config/schema.js';

/** The limits in force for one tenant and its devices, after `admission.tenants.default` is applied. */
export interface EffectiveLimits {
  tenant: { ratePerSec: number; burst: number; maxInFlightBatches: number };
  device: { ratePerSec: number; burst: number };
}

export function effectiveLimits(admission: BridgeConfig['admission'], tenant: string): EffectiveLimits {
  const def = admission.tenants['default']!;
  const own = admission.tenants[tenant] ?? {};
  return {
    tenant: {
      ratePerSec: own.ratePerSec ?? def.ratePerSec!,
      burst: own.burst ?? def.burst!,
      maxInFlightBatches: own.maxInFlightBatches ?? def.maxInFlightBatches!,
    },
    device: {
      ratePerSec: own.device?.ratePerSec ?? admission.device.ratePerSec,
      burst: own.device?.burst ?? admission.device.burst,
    },
  };
}
