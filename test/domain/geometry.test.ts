import { describe, expect, it } from 'vitest';
import {
  findCrossing,
  pointInRing,
  projectOnSegment,
  ringSignedArea,
  segmentsIntersect,
  unwrapPath,
  type Vec,
} from '../../src/domain/geometry';
import { RING_CIRCUMFERENCE } from '../../src/domain/ring';

const C = RING_CIRCUMFERENCE;
const square: Vec[] = [
  [0, 0],
  [10, 0],
  [10, 10],
  [0, 10],
];

describe('segment intersection', () => {
  it('detects crossings, touches and collinear overlaps', () => {
    expect(segmentsIntersect([0, 0], [10, 10], [0, 10], [10, 0])).toBe(true);
    expect(segmentsIntersect([0, 0], [10, 0], [5, 0], [5, 5])).toBe(true);
    expect(segmentsIntersect([0, 0], [10, 0], [5, 0], [15, 0])).toBe(true);
  });
  it('leaves apart segments apart', () => {
    expect(segmentsIntersect([0, 0], [10, 0], [0, 1], [10, 1])).toBe(false);
    expect(segmentsIntersect([0, 0], [10, 0], [11, 0], [15, 0])).toBe(false);
    expect(segmentsIntersect([0, 0], [1, 1], [2, 2.5], [3, 0])).toBe(false);
  });
});

describe('findCrossing', () => {
  it('finds nothing in a simple ring, with a hole inside', () => {
    const hole: Vec[] = [
      [2, 2],
      [4, 2],
      [4, 4],
    ];
    expect(findCrossing([square, hole])).toBeNull();
  });
  it('finds a bow tie and a spike', () => {
    const bow: Vec[] = [
      [0, 0],
      [10, 10],
      [10, 0],
      [0, 10],
    ];
    expect(findCrossing([bow])).toEqual({ ringA: 0, segmentA: 0, ringB: 0, segmentB: 2 });
    const spike: Vec[] = [
      [0, 0],
      [10, 0],
      [5, 0],
      [5, 5],
    ];
    expect(findCrossing([spike])).not.toBeNull();
  });
  it('finds a hole touching the outer ring', () => {
    const hole: Vec[] = [
      [0, 5],
      [4, 2],
      [4, 8],
    ];
    expect(findCrossing([square, hole])).toMatchObject({ ringA: 0, ringB: 1 });
  });
});

describe('area, point in ring, projection, unwrapping', () => {
  it('computes signed area and point sides', () => {
    expect(ringSignedArea(square)).toBe(100);
    expect(ringSignedArea([...square].reverse())).toBe(-100);
    expect(pointInRing([5, 5], square)).toBe('inside');
    expect(pointInRing([10, 5], square)).toBe('boundary');
    expect(pointInRing([11, 5], square)).toBe('outside');
  });
  it('projects onto a segment', () => {
    expect(projectOnSegment([5, 3], [0, 0], [10, 0])).toEqual({ point: [5, 0], t: 0.5, distance: 3 });
    expect(projectOnSegment([-4, 3], [0, 0], [10, 0]).distance).toBe(5);
  });
  it('unwraps a path across the wrap point', () => {
    expect(
      unwrapPath(
        [
          [C - 10, 0],
          [20, 0],
          [C - 5, 1],
        ],
        C - 10,
      ),
    ).toEqual([
      [C - 10, 0],
      [C + 20, 0],
      [C - 5, 1],
    ]);
  });
});
