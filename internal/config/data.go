package config

import (
	"embed"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/gigafactory/gigafactory/internal/spec"
)

// The reference data is compiled in (see eu/SOURCES.md), so nothing is
// read from disk at run time.
//
//go:embed eu/*.json
var euData embed.FS

// AcceleratorInfo is what metering needs to know of an accelerator model.
type AcceleratorInfo struct {
	Model      string  // as in eu/accelerators.json, e.g. "NVIDIA H100 SXM5 80 GB"
	Family     string  // chip family, e.g. "H100", "MI250X"
	Name       string  // short name used as a pool's model: "NVIDIA H100", "AMD Instinct MI250X"
	Vendor     string  // NVIDIA, AMD
	BF16TFLOPS float64 // peak dense BF16 TFLOP/s; 0 where not public
	FP8TFLOPS  float64 // peak dense FP8 TFLOP/s; 0 where there is none or not public
	TDPW       int     // board power in watts; 0 where not public
	MemoryGB   float64
}

type acceleratorsFile struct {
	Accelerators []struct {
		Model    string   `json:"model"`
		Vendor   string   `json:"vendor"`
		BF16     *float64 `json:"bf16_dense_tflops"`
		FP8      *float64 `json:"fp8_dense_tflops"`
		TDP      *float64 `json:"tdp_w"`
		MemoryGB *float64 `json:"memory_gb"`
	} `json:"accelerators"`
}

type gridFile struct {
	Source string `json:"source"`
	Data   []struct {
		ISO2   string  `json:"iso2"`
		Year   int     `json:"year"`
		GCO2e  float64 `json:"gco2e_per_kwh"`
		Source string  `json:"source"`
	} `json:"data"`
}

var loadRef = sync.OnceValues(func() (refData, error) {
	var r refData
	var af acceleratorsFile
	if err := readJSON("eu/accelerators.json", &af); err != nil {
		return r, err
	}
	for _, a := range af.Accelerators {
		info := AcceleratorInfo{Model: a.Model, Vendor: a.Vendor, Family: family(a.Model)}
		info.Name = a.Vendor + " " + info.Family
		if a.Vendor == "AMD" {
			info.Name = "AMD Instinct " + info.Family
		}
		if a.BF16 != nil {
			info.BF16TFLOPS = *a.BF16
		}
		if a.FP8 != nil {
			info.FP8TFLOPS = *a.FP8
		}
		if a.TDP != nil {
			info.TDPW = int(*a.TDP)
		}
		if a.MemoryGB != nil {
			info.MemoryGB = *a.MemoryGB
		}
		r.accels = append(r.accels, info)
	}
	var gf gridFile
	if err := readJSON("eu/grid-carbon-intensity.json", &gf); err != nil {
		return r, err
	}
	r.carbon = map[string]float64{}
	r.carbonYear = map[string]int{}
	r.carbonSource = gf.Source
	var sum float64
	var n int
	for _, d := range gf.Data {
		r.carbon[d.ISO2] = d.GCO2e
		r.carbonYear[d.ISO2] = d.Year
		if spec.InEU(d.ISO2) {
			sum += d.GCO2e
			n++
		}
	}
	if n == 0 {
		return r, fmt.Errorf("config: no EU country in eu/grid-carbon-intensity.json")
	}
	r.euMean = sum / float64(n)
	return r, nil
})

type refData struct {
	accels       []AcceleratorInfo
	carbon       map[string]float64
	carbonYear   map[string]int
	carbonSource string
	euMean       float64
}

func readJSON(name string, v any) error {
	b, err := euData.ReadFile(name)
	if err != nil {
		return fmt.Errorf("config: embedded %s: %w", name, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("config: embedded %s: %w", name, err)
	}
	return nil
}

// ref returns the embedded reference data. The files are part of the
// binary and checked by tests, so a failure is a build defect.
func ref() refData {
	r, err := loadRef()
	if err != nil {
		panic(err)
	}
	return r
}

// Accelerators lists the accelerator models of eu/accelerators.json with
// their peak dense BF16 throughput and board power, for metering.
func Accelerators() []AcceleratorInfo {
	return append([]AcceleratorInfo(nil), ref().accels...)
}

var familyRE = regexp.MustCompile(`(?i)\b(GB200|GH200|B200|H200|H100|A100|MI\d{3}[AX]?)\b`)

// family extracts the chip family from a model name ("NVIDIA H100 80GB
// HBM3" -> "H100"), or "" when there is none.
func family(model string) string {
	return strings.ToUpper(familyRE.FindString(model))
}

// LookupAccelerator finds the reference entry for a model name as sites
// or nvidia-smi write it, by chip family: "NVIDIA H100 80GB HBM3" and
// "h100" both find "NVIDIA H100 SXM5 80 GB".
func LookupAccelerator(model string) (AcceleratorInfo, bool) {
	f := family(model)
	if f == "" {
		return AcceleratorInfo{}, false
	}
	for _, a := range ref().accels {
		if family(a.Model) == f {
			return a, true
		}
	}
	return AcceleratorInfo{}, false
}

// GridCarbon returns the lifecycle grid carbon intensity of a country in
// gCO2e/kWh from eu/grid-carbon-intensity.json. Countries the file lacks
// get the unweighted mean of the EU member states it has.
func GridCarbon(country string) float64 {
	r := ref()
	if v, ok := r.carbon[country]; ok {
		return v
	}
	return r.euMean
}

// CarbonFactor is a grid carbon intensity with where it comes from, as
// metering records it.
type CarbonFactor struct {
	Country     string  `json:"country"`
	GCO2ePerKWh float64 `json:"gco2e_per_kwh"`
	Year        int     `json:"year,omitempty"` // of the data; 0 for the EU mean
	Source      string  `json:"source"`
}

// GridCarbonFactor is GridCarbon with its year and source. ok is false
// when the file lacks the country and the factor is the EU mean.
func GridCarbonFactor(country string) (f CarbonFactor, ok bool) {
	r := ref()
	if v, ok := r.carbon[country]; ok {
		return CarbonFactor{Country: country, GCO2ePerKWh: v, Year: r.carbonYear[country], Source: r.carbonSource}, true
	}
	return CarbonFactor{Country: country, GCO2ePerKWh: r.euMean, Source: "unweighted mean of the EU member states in " + r.carbonSource}, false
}

// DefaultExchangeRates are the exchange rates between accelerator models
// when the config gives none: each model's peak dense BF16 throughput
// relative to the NVIDIA H100's (eu/accelerators.json), keyed by the
// short name pools use ("NVIDIA A100": 0.32). A config's exchange_rates
// override them model by model; models without a public figure are
// worth 1.
func DefaultExchangeRates() map[string]float64 {
	var h100 float64
	for _, a := range ref().accels {
		if a.Family == "H100" && a.BF16TFLOPS > 0 && h100 == 0 {
			h100 = a.BF16TFLOPS
		}
	}
	out := map[string]float64{}
	if h100 == 0 {
		return out
	}
	for _, a := range ref().accels {
		if a.BF16TFLOPS > 0 && a.Name != "" {
			if _, ok := out[a.Name]; !ok {
				out[a.Name] = a.BF16TFLOPS / h100
			}
		}
	}
	return out
}
