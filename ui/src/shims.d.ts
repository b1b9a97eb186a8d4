// frappe-charts ships no types: the part of its API the desk uses.
declare module 'frappe-charts' {
  export interface ChartData {
    labels: string[];
    datasets: { name: string; values: number[]; chartType?: string }[];
  }
  export interface ChartOptions {
    title?: string;
    data: ChartData;
    type: 'line' | 'bar' | 'axis-mixed' | 'pie' | 'percentage' | 'heatmap' | 'donut';
    height?: number;
    colors?: string[];
    barOptions?: { stacked?: boolean | number; spaceRatio?: number };
    lineOptions?: { hideDots?: boolean | number; regionFill?: boolean | number; spline?: boolean | number };
    axisOptions?: { xIsSeries?: boolean | number; xAxisMode?: 'span' | 'tick'; yAxisMode?: 'span' | 'tick' };
    animate?: boolean | number;
    truncateLegends?: boolean | number;
  }
  export class Chart {
    constructor(parent: HTMLElement | string, options: ChartOptions);
    update(data: ChartData): void;
    destroy(): void;
  }
}
