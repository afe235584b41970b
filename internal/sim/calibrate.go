package sim

import (
	"embed"
	"encoding/csv"
	"fmt"
	"strconv"
	"strings"
)

//go:embed published/*.csv
var published embed.FS

// Published is one cluster's published job statistics (GPU jobs).
type Published struct {
	Cluster         string  `json:"cluster"`
	Source          string  `json:"source"`
	GPUJobs         float64 `json:"gpu_jobs"`
	MeanGPUs        float64 `json:"mean_gpus"`
	MedianGPUs      float64 `json:"median_gpus"`
	MeanRunS        float64 `json:"mean_run_s"`
	MedianRunS      float64 `json:"median_run_s"`
	MeanQueueS      float64 `json:"mean_queue_s"`
	MedianQueueS    float64 `json:"median_queue_s"`
	ClusterGPUs     float64 `json:"cluster_gpus,omitempty"` // when published
	CompletedGPUSec float64 `json:"gpu_seconds,omitempty"`  // complete + cancel + fail
}

// Calibration sets a workload beside a published cluster's statistics.
type Calibration struct {
	Published Published `json:"published"`
	Workload  MixStats  `json:"workload"`
	Note      string    `json:"note"`
}

// PublishedStats returns the published statistics of a cluster named in
// published/acme_cluster_summary.csv (Philly, Helios, PAI, Seren, Kalos)
// or published/helios_cluster_summary.csv (Venus, Earth, Saturn, Uranus).
func PublishedStats(cluster string) (Published, error) {
	files := []struct{ name, source string }{
		{"published/acme_cluster_summary.csv", "InternLM/AcmeTrace, Hu et al. NSDI'24, CC BY 4.0"},
		{"published/helios_cluster_summary.csv", "S-Lab-System-Group/HeliosArtifact, Hu et al. SC'21, CC BY 4.0"},
	}
	for _, f := range files {
		b, err := published.ReadFile(f.name)
		if err != nil {
			return Published{}, err
		}
		recs, err := csv.NewReader(strings.NewReader(string(b))).ReadAll()
		if err != nil {
			return Published{}, fmt.Errorf("%s: %w", f.name, err)
		}
		col := map[string]int{}
		for i, h := range recs[0] {
			col[h] = i
		}
		num := func(r []string, k string) float64 {
			i, ok := col[k]
			if !ok || i >= len(r) {
				return 0
			}
			v, _ := strconv.ParseFloat(r[i], 64)
			return v
		}
		for _, r := range recs[1:] {
			if !strings.EqualFold(r[0], cluster) {
				continue
			}
			return Published{
				Cluster: r[0], Source: f.source,
				GPUJobs: num(r, "gpu_job_num"), MeanGPUs: num(r, "avg_gpu_num"), MedianGPUs: num(r, "med_gpu_num"),
				MeanRunS: num(r, "avg_run_time_gpu"), MedianRunS: num(r, "med_run_time_gpu"),
				MeanQueueS: num(r, "avg_que_time_gpu"), MedianQueueS: num(r, "med_que_time_gpu"),
				ClusterGPUs:     num(r, "gpu_num"),
				CompletedGPUSec: num(r, "complete_gpu_time") + num(r, "cancel_gpu_time") + num(r, "fail_gpu_time"),
			}, nil
		}
	}
	return Published{}, fmt.Errorf("no published statistics for cluster %q", cluster)
}
