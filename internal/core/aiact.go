package core

// Purposes of a training job, as a model lineage declares them (issue 15,
// the AI Act ledger; the rules are in package aiact).
const (
	PurposePretraining  = "pretraining"
	PurposeFinetune     = "finetune"
	PurposeModification = "modification"
)

// ModelLineage is what a job declares it trains, so that the AI Act
// ledger can add its compute to the right model: the model's id (scoped
// to the job's organisation), the model it starts from, its size and
// data, and the numeric precision its compute is counted at.
type ModelLineage struct {
	Model     string `json:"model"`
	BaseModel string `json:"base_model,omitempty"`
	// Parameters and Tokens give the architecture estimate 6 x P x D;
	// Tokens are those this job trains on.
	Parameters float64 `json:"parameters,omitempty"`
	Tokens     float64 `json:"tokens,omitempty"`
	// Precision picks the peak throughput of the hardware estimate:
	// bf16 (the default), fp16 or fp8.
	Precision string `json:"precision,omitempty"`
	// Purpose is pretraining (the default), finetune or modification.
	Purpose string `json:"purpose,omitempty"`
	// BaseFLOP is the base model's training compute when its provider
	// published it and the ledger does not know it; BaseSystemicRisk
	// says the base is a general-purpose model with systemic risk. Both
	// serve the one-third rule for fine-tunes and modifications.
	BaseFLOP         float64 `json:"base_flop,omitempty"`
	BaseSystemicRisk bool    `json:"base_systemic_risk,omitempty"`
}
