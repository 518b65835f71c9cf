package signaling

import (
	"fmt"
	"strings"
)

// Cloud is a Graph national cloud: where Graph and its token issuer live.
// Tokens cannot be used across clouds.
type Cloud struct {
	Name     string
	GraphURL string // Graph base, with the API version
	LoginURL string // Entra ID authority host
}

// Clouds are the deployments a bot can run in: global, US Gov L4 (GCC
// High), US Gov L5 (DoD) and China (21Vianet). GCC uses global.
var Clouds = map[string]Cloud{
	"global":   {"global", "https://graph.microsoft.com/v1.0", "https://login.microsoftonline.com"},
	"usgov":    {"usgov", "https://graph.microsoft.us/v1.0", "https://login.microsoftonline.us"},
	"usgovdod": {"usgovdod", "https://dod-graph.microsoft.us/v1.0", "https://login.microsoftonline.us"},
	"china":    {"china", "https://microsoftgraph.chinacloudapi.cn/v1.0", "https://login.chinacloudapi.cn"},
}

// CloudByName looks a cloud up by its --cloud name.
func CloudByName(name string) (Cloud, error) {
	c, ok := Clouds[strings.ToLower(name)]
	if !ok {
		return Cloud{}, fmt.Errorf("signaling: unknown cloud %q (want global, usgov, usgovdod or china)", name)
	}
	return c, nil
}

// TokenURL is the client-credentials endpoint of tenant in this cloud.
func (c Cloud) TokenURL(tenant string) string {
	if tenant == "" {
		tenant = "common"
	}
	return c.LoginURL + "/" + tenant + "/oauth2/v2.0/token"
}
