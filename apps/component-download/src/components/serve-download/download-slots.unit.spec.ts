import { DownloadSlots } from './download-slots';

describe('download slots', () => {
  const slots = () => new DownloadSlots({ DOWNLOAD_SLOTS: 2 });

  it('hands out at most N at once, refuses the rest, and counts', () => {
    const s = slots();
    const a = s.tryAcquire();
    const b = s.tryAcquire();
    expect(a).not.toBeNull();
    expect(b).not.toBeNull();
    expect(s.tryAcquire()).toBeNull();
    a!();
    a!(); // releasing twice frees one slot, not two
    const c = s.tryAcquire();
    expect(c).not.toBeNull();
    expect(s.tryAcquire()).toBeNull();
    b!();
    c!();
    expect(s.stats()).toEqual({ slots: 2, inUse: 0, peakInUse: 2, served: 3, refused: 2 });
  });
});
